package selector

import (
	"math"
	"testing"

	"github.com/asvp-dev/asvp/models/nn"
)

// TestNetProxyMatchesNet checks the nn.Net wrapper: probabilities equal
// Predict, and the embedding is the head's input, so that the head applied
// to it gives the same logits.
func TestNetProxyMatchesNet(t *testing.T) {
	X, y := blobs(3, 200, 12, 4, 0.5)
	net, _, err := nn.Train(nn.DefaultRecipe(nn.MethodFT), X.Data, X.Rows, X.Cols, y, 4)
	if err != nil {
		t.Fatal(err)
	}
	p := NetProxy(net)
	probs := make([]float32, 50*4)
	emb := make([]float32, 50*12)
	p.Forward(X, 10, 60, probs, emb)
	want := net.Predict(X.Data[10*12:60*12], 50)
	w := net.Weights()
	for i := range 50 {
		for k := range 4 {
			if probs[i*4+k] != want[i*4+k] {
				t.Fatalf("row %d class %d: prob %v, Predict %v", i, k, probs[i*4+k], want[i*4+k])
			}
		}
		// softmax(HeadW·emb + HeadB) must equal the probabilities.
		logits := make([]float64, 4)
		for k := range 4 {
			logits[k] = float64(w.HeadB[k])
			for j := range 12 {
				logits[k] += float64(w.HeadW[k*12+j]) * float64(emb[i*12+j])
			}
		}
		mx := logits[0]
		for _, v := range logits {
			mx = max(mx, v)
		}
		var z float64
		for k := range logits {
			logits[k] = math.Exp(logits[k] - mx)
			z += logits[k]
		}
		for k := range 4 {
			if d := logits[k]/z - float64(probs[i*4+k]); d > 1e-4 || d < -1e-4 {
				t.Fatalf("row %d class %d: head(emb) gives %v, prob %v", i, k, logits[k]/z, probs[i*4+k])
			}
		}
	}
}
