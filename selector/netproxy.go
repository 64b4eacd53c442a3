package selector

import (
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/nn"
)

// NetProxy wraps a trained nn.Net as a Proxy: probabilities from Predict,
// and as embedding the head's input, the adapter output in the net's
// standardised coordinates ((Embed(x) - Mean) / Std), so BADGE's gradient
// embeddings are those of the net's last layer. Safe for concurrent use.
func NetProxy(net *nn.Net) Proxy { return netProxy{net} }

type netProxy struct{ net *nn.Net }

func (p netProxy) NumClasses() int { return p.net.Classes }
func (p netProxy) EmbedDim() int   { return p.net.Dim }
func (p netProxy) inputDim() int   { return p.net.Dim }

// forwardLogits implements logitForwarder with the net's float64 logits, so
// standard AL's scores saturate no sooner than the proxies'.
func (p netProxy) forwardLogits(X *features.Matrix, lo, hi int, logits []float64) {
	d, c := p.net.Dim, p.net.Classes
	checkLogits("net", X, lo, hi, d, c, logits)
	p.net.Logits(X.Data[lo*d:hi*d], hi-lo, logits[:(hi-lo)*c])
}

func (p netProxy) Forward(X *features.Matrix, lo, hi int, probs, emb []float32) {
	d, c := p.net.Dim, p.net.Classes
	checkForward("net", X, lo, hi, d, c, probs, emb, d)
	x := X.Data[lo*d : hi*d]
	copy(probs[:(hi-lo)*c], p.net.Predict(x, hi-lo))
	if emb == nil {
		return
	}
	e := emb[:(hi-lo)*d]
	p.net.Embed(x, hi-lo, e)
	for i := range hi - lo {
		for j := range d {
			e[i*d+j] = float32((float64(e[i*d+j]) - p.net.Mean[j]) / p.net.Std[j])
		}
	}
}
