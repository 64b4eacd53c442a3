package selector

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/nn"
)

// Proxy errors, usable with errors.Is.
var (
	// ErrUnknownProxyKind is returned for a ProxyConfig.Kind other than "linear" or "mlp".
	ErrUnknownProxyKind = errors.New("selector: unknown proxy kind")
	// ErrProxyTooFewClasses is returned when the labels hold fewer than two classes.
	ErrProxyTooFewClasses = errors.New("selector: proxy needs at least two classes")
	// ErrProxyData is returned for training data that cannot be used: empty,
	// mismatched lengths, labels out of range, non-finite features.
	ErrProxyData = errors.New("selector: bad proxy training data")
)

// ProxyConfig says how to train a proxy on cached features.
//
// Kind "linear" is multinomial logistic regression minimising
// mean cross-entropy + L2/2·||W||² (bias not penalised) with full-batch L-BFGS;
// Epochs is its iteration cap. It matches sklearn's LogisticRegression with
// C = 1/(L2·n) for n training rows.
//
// Kind "mlp" is the reference proxy of the ASVP paper:
// Linear(D,D) - BatchNorm - ReLU - Linear(D,C), trained with SGD (Nesterov
// momentum), a cosine learning-rate schedule stepped once per epoch, and
// L2 used as (decoupled-from-loss, PyTorch-style) weight decay on all weights.
//
// With Standardize, each feature is centred and scaled by the mean and
// standard deviation of the training rows (the labeled set; a zero deviation
// counts as 1). The statistics are folded into the first layer, so a trained
// proxy takes raw features.
type ProxyConfig struct {
	Kind        string  // "linear" or "mlp"
	Epochs      int     // mlp: epochs; linear: L-BFGS iteration cap
	BatchSize   int     // mlp only; 0 means ceil(n/4) capped to 256
	LR          float64 // mlp only: peak learning rate
	Momentum    float64 // mlp only: Nesterov momentum
	L2          float64 // linear: L2 penalty; mlp: weight decay
	Standardize bool    // standardise features with training-set statistics
	Seed        uint64  // seeds initialisation and shuffling
}

// CheckProxyKind returns an error wrapping ErrUnknownProxyKind unless kind
// is a proxy TrainProxy knows: "linear" or "mlp".
func CheckProxyKind(kind string) error {
	if kind != "linear" && kind != "mlp" {
		return fmt.Errorf("%w %q (valid: linear, mlp)", ErrUnknownProxyKind, kind)
	}
	return nil
}

// DefaultProxyConfig returns the default configuration for kind: for "mlp" the
// paper's recipe (50 epochs, lr 0.1, Nesterov 0.9, no weight decay, automatic
// batch size), for "linear" L2 1e-4 and at most 100 L-BFGS iterations (sklearn's max_iter). Both
// standardise features. Other kinds get Kind set and zero fields.
func DefaultProxyConfig(kind string) ProxyConfig {
	switch kind {
	case "mlp":
		return ProxyConfig{Kind: kind, Epochs: 50, LR: 0.1, Momentum: 0.9, Standardize: true}
	case "linear":
		return ProxyConfig{Kind: kind, Epochs: 100, L2: 1e-4, Standardize: true}
	}
	return ProxyConfig{Kind: kind}
}

// Proxy is a trained classifier over feature rows.
type Proxy interface {
	// NumClasses returns the number of classes C.
	NumClasses() int
	// EmbedDim returns the dimension of the representation feeding the last
	// linear layer (BADGE builds gradient embeddings from it).
	EmbedDim() int
	// Forward computes, for rows [lo,hi) of X, class probabilities into probs
	// ((hi-lo)*C) and, when emb is non-nil, the last-layer input embedding into
	// emb ((hi-lo)*EmbedDim). Safe for concurrent use.
	Forward(X *features.Matrix, lo, hi int, probs, emb []float32)
}

// inputEmbedder is implemented by proxies whose last-layer input is the
// feature row itself, so strategies can read the pool instead of copying it.
type inputEmbedder interface{ embedsInput() bool }

// TrainProxy trains the proxy cfg.Kind on rows X labelled y in [0,numClasses).
// X is not modified.
func TrainProxy(cfg ProxyConfig, X *features.Matrix, y []int, numClasses int) (Proxy, error) {
	if err := CheckProxyKind(cfg.Kind); err != nil {
		return nil, err
	}
	if numClasses < 2 {
		return nil, fmt.Errorf("%w: numClasses %d", ErrProxyTooFewClasses, numClasses)
	}
	if X == nil || X.Rows == 0 || X.Cols == 0 {
		return nil, fmt.Errorf("%w: empty feature matrix", ErrProxyData)
	}
	if len(y) != X.Rows {
		return nil, fmt.Errorf("%w: %d labels for %d rows", ErrProxyData, len(y), X.Rows)
	}
	seen := make(map[int]bool)
	for i, c := range y {
		if c < 0 || c >= numClasses {
			return nil, fmt.Errorf("%w: label %d of row %d outside [0,%d)", ErrProxyData, c, i, numClasses)
		}
		seen[c] = true
	}
	if len(seen) < 2 {
		return nil, fmt.Errorf("%w: labels hold %d distinct class", ErrProxyTooFewClasses, len(seen))
	}
	for i, v := range X.Data[:X.Rows*X.Cols] {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: non-finite feature at row %d col %d", ErrProxyData, i/X.Cols, i%X.Cols)
		}
	}
	mu, sd := featureStats(X, cfg.Standardize)
	z := standardized(X, mu, sd)
	if cfg.Kind == "linear" {
		return trainLinear(cfg, z, X.Rows, X.Cols, y, numClasses, mu, sd)
	}
	return trainMLP(cfg, z, X.Rows, X.Cols, y, numClasses, mu, sd)
}

// featureStats returns per-column mean and standard deviation (population),
// or zeros and ones when standardize is false.
func featureStats(X *features.Matrix, standardize bool) (mu, sd []float64) {
	d := X.Cols
	mu, sd = make([]float64, d), make([]float64, d)
	for j := range sd {
		sd[j] = 1
	}
	if !standardize {
		return mu, sd
	}
	n := float64(X.Rows)
	for i := range X.Rows {
		for j, v := range X.Row(i) {
			mu[j] += float64(v)
		}
	}
	for j := range mu {
		mu[j] /= n
	}
	vr := make([]float64, d)
	for i := range X.Rows {
		for j, v := range X.Row(i) {
			t := float64(v) - mu[j]
			vr[j] += t * t
		}
	}
	for j := range sd {
		s := math.Sqrt(vr[j] / n)
		if s > 1e-12 {
			sd[j] = s
		}
	}
	return mu, sd
}

// standardized returns (X - mu)/sd as a new float64 row-major slice.
func standardized(X *features.Matrix, mu, sd []float64) []float64 {
	z := make([]float64, X.Rows*X.Cols)
	for i := range X.Rows {
		zr := z[i*X.Cols : (i+1)*X.Cols]
		for j, v := range X.Row(i) {
			zr[j] = (float64(v) - mu[j]) / sd[j]
		}
	}
	return z
}

// softmaxRow64 replaces logits with their softmax and returns the log of
// the normaliser (log-sum-exp).
func softmaxRow64(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	var s float64
	for j, x := range v {
		e := math.Exp(x - m)
		v[j] = e
		s += e
	}
	for j := range v {
		v[j] /= s
	}
	return m + math.Log(s)
}

// foldLinear turns a layer w (rows×d, acting on standardised input) and bias b
// into float32 weights acting on raw input: w/sd and b - (w/sd)·mu.
func foldLinear(w []float64, b []float64, rows, d int, mu, sd []float64) ([]float32, []float32) {
	w32 := make([]float32, rows*d)
	b32 := make([]float32, rows)
	for r := range rows {
		bias := b[r]
		for j := range d {
			v := w[r*d+j] / sd[j]
			w32[r*d+j] = float32(v)
			bias -= v * mu[j]
		}
		b32[r] = float32(bias)
	}
	return w32, b32
}

// linearProxy is softmax(W x + b) on raw features; its embedding is x itself.
type linearProxy struct {
	d, c int
	w    []float32 // c×d
	b    []float32 // c
	w64  []float64 // w widened, the right-hand side of Forward's product
	// scratch recycles Forward's float64 buffers.
	scratch f64Pool
}

// NewLinearProxy returns the proxy of a trained linear classifier on
// standardised features: logits = W·((x − mean)/std) + b, with W of shape
// classes×dim, row-major. Standard AL selects this way with its fine-tuned
// model: the head over the fine-tuned features. It panics when the lengths
// do not match, a programmer error.
func NewLinearProxy(w, b []float64, classes, dim int, mean, std []float64) Proxy {
	if len(w) != classes*dim || len(b) != classes || len(mean) != dim || len(std) != dim {
		panic(fmt.Sprintf("selector: linear proxy of %d classes x %d dims with %d weights, %d biases, %d means, %d stds",
			classes, dim, len(w), len(b), len(mean), len(std)))
	}
	w32, b32 := foldLinear(w, b, classes, dim, mean, std)
	return &linearProxy{d: dim, c: classes, w: w32, b: b32, w64: widen(w32)}
}

func (p *linearProxy) NumClasses() int   { return p.c }
func (p *linearProxy) EmbedDim() int     { return p.d }
func (p *linearProxy) embedsInput() bool { return true }

// Forward implements Proxy.
func (p *linearProxy) Forward(X *features.Matrix, lo, hi int, probs, emb []float32) {
	checkForward("linear", X, lo, hi, p.d, p.c, probs, emb, p.d)
	rows := hi - lo
	x := X.Data[lo*p.d : hi*p.d]
	buf := p.scratch.get(rows * (p.d + p.c))
	defer p.scratch.put(buf)
	x64, l64 := (*buf)[:rows*p.d], (*buf)[rows*p.d:]
	gemmABt(x, rows, p.w64, p.c, p.d, probs, x64, l64)
	softmaxRows32(probs[:rows*p.c], p.c, p.b)
	if emb != nil {
		copy(emb, x)
	}
}

// forwardLogits implements logitForwarder: W x + b in float64.
func (p *linearProxy) forwardLogits(X *features.Matrix, lo, hi int, logits []float64) {
	checkLogits("linear", X, lo, hi, p.d, p.c, logits)
	rows := hi - lo
	buf := p.scratch.get(rows * p.d)
	defer p.scratch.put(buf)
	x64 := (*buf)[:rows*p.d]
	toF64(x64, X.Data[lo*p.d:hi*p.d])
	nn.MatMul(false, true, rows, p.c, p.d, x64, p.d, p.w64, p.d, logits, p.c, false)
	addBias(logits[:rows*p.c], p.b)
}

// checkLogits panics on a programmer error in forwardLogits' arguments.
func checkLogits(kind string, X *features.Matrix, lo, hi, d, c int, logits []float64) {
	if X.Cols != d || lo < 0 || hi > X.Rows || lo > hi || len(logits) < (hi-lo)*c {
		panic(fmt.Sprintf("selector: %s proxy forwardLogits: bad arguments (cols %d want %d, rows [%d,%d) of %d, len(logits) %d)",
			kind, X.Cols, d, lo, hi, X.Rows, len(logits)))
	}
}

// addBias adds bias to every row of logits (rows of length len(bias)).
func addBias(logits []float64, bias []float32) {
	c := len(bias)
	for i := 0; i+c <= len(logits); i += c {
		for j, b := range bias {
			logits[i+j] += float64(b)
		}
	}
}

// checkForward panics on a programmer error in Forward's arguments.
func checkForward(kind string, X *features.Matrix, lo, hi, d, c int, probs, emb []float32, e int) {
	if X.Cols != d || lo < 0 || hi > X.Rows || lo > hi || len(probs) < (hi-lo)*c || (emb != nil && len(emb) < (hi-lo)*e) {
		panic(fmt.Sprintf("selector: %s proxy Forward: bad arguments (cols %d want %d, rows [%d,%d) of %d, len(probs) %d, len(emb) %d)",
			kind, X.Cols, d, lo, hi, X.Rows, len(probs), len(emb)))
	}
}

// softmaxRows32 adds bias to every row of logits (rows of length c) and
// replaces each row by its softmax, computed in float64.
func softmaxRows32(logits []float32, c int, bias []float32) {
	tmp := make([]float64, c)
	for i := 0; i+c <= len(logits); i += c {
		row := logits[i : i+c]
		for j := range row {
			tmp[j] = float64(row[j]) + float64(bias[j])
		}
		softmaxRow64(tmp)
		for j := range row {
			row[j] = float32(tmp[j])
		}
	}
}

// trainLinear fits multinomial logistic regression on standardised rows z.
func trainLinear(cfg ProxyConfig, z []float64, n, d int, y []int, c int, mu, sd []float64) (Proxy, error) {
	np := c*d + c
	lossGrad := linearLossGrad(z, n, d, y, c, cfg.L2)
	iters := cfg.Epochs
	if iters <= 0 {
		iters = 1000
	}
	theta := lbfgsMinimize(lossGrad, make([]float64, np), iters, 1e-6)
	for _, v := range theta {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("selector: linear proxy: optimisation diverged")
		}
	}
	w32, b32 := foldLinear(theta[:c*d], theta[c*d:], c, d, mu, sd)
	return &linearProxy{d: d, c: c, w: w32, b: b32, w64: widen(w32)}, nil
}

// linearBlockRows is the number of training rows linearLossGrad handles
// at a time, so that the block (float64) is still in cache when the second
// product reads it.
const linearBlockRows = 512

// linearLossGrad returns the objective of trainLinear on standardised
// rows z (n×d) labelled y over c classes, as a function of theta = (W c×d
// row-major, b c): mean cross-entropy + l2/2·||W||². It writes the gradient
// into grad when grad is non-nil. Not safe for concurrent use.
//
// Rows are processed in fixed blocks of linearBlockRows: for each block
// the logits Z_b·Wᵀ, then the residuals R_b = softmax - onehot, then
// G += R_bᵀ·Z_b, so that the second product reads the block from cache
// (nn.MatMul packs its right-hand side whole: on all of Z that copy went to
// and from memory). Every product element is a nn.MatMul sum in a fixed
// order whatever GOMAXPROCS, blocks are added to G in row order, and the
// loss and bias gradient are summed serially in row order: bit-for-bit
// reproducible whatever the machine.
func linearLossGrad(z []float64, n, d int, y []int, c int, l2 float64) func(theta, grad []float64) float64 {
	logits := make([]float64, min(n, linearBlockRows)*c) // then the residuals
	return func(theta, grad []float64) float64 {
		w, b := theta[:c*d], theta[c*d:]
		var gw, gb []float64
		if grad != nil {
			gw, gb = grad[:c*d], grad[c*d:]
			clear(gb)
		}
		var loss float64
		for lo := 0; lo < n; lo += linearBlockRows {
			m := min(linearBlockRows, n-lo)
			zb := z[lo*d : (lo+m)*d]
			lb := logits[:m*c]
			nn.MatMul(false, true, m, c, d, zb, d, w, d, lb, c, false)
			for i := range m {
				row := lb[i*c : (i+1)*c]
				for k := range row {
					row[k] += b[k]
				}
				yi := y[lo+i]
				zy := row[yi]
				loss += softmaxRow64(row) - zy
				row[yi] -= 1
			}
			if grad != nil {
				nn.MatMul(true, false, c, d, m, lb, c, zb, d, gw, d, lo > 0)
				for i := range m {
					for k, v := range lb[i*c : (i+1)*c] {
						gb[k] += v
					}
				}
			}
		}
		inv := 1 / float64(n)
		loss *= inv
		var pen float64
		for _, v := range w {
			pen += v * v
		}
		loss += 0.5 * l2 * pen
		if grad != nil {
			for j := range gw {
				gw[j] = gw[j]*inv + l2*w[j]
			}
			for k := range gb {
				gb[k] *= inv
			}
		}
		return loss
	}
}

// mlpProxy is Linear(D,D)-BatchNorm-ReLU-Linear(D,C) with batch-norm (eval
// mode) and standardisation folded into the first layer. Its embedding is
// the ReLU output.
type mlpProxy struct {
	d, c   int
	w1, b1 []float32 // d×d, d
	w2, b2 []float32 // c×d, c
	// w1w, w2w are w1 and w2 widened, the right-hand sides of Forward's
	// float64 products.
	w1w, w2w []float64
	// scratch recycles Forward's float64 buffers, so scoring a large pool
	// makes little garbage.
	scratch f64Pool
}

func (p *mlpProxy) NumClasses() int { return p.c }
func (p *mlpProxy) EmbedDim() int   { return p.d }

// Forward implements Proxy.
func (p *mlpProxy) Forward(X *features.Matrix, lo, hi int, probs, emb []float32) {
	checkForward("mlp", X, lo, hi, p.d, p.c, probs, emb, p.d)
	rows, d, c := hi-lo, p.d, p.c
	buf := p.scratch.get(rows * (2*d + c))
	defer p.scratch.put(buf)
	l64 := (*buf)[2*rows*d:]
	p.logits(X, lo, hi, emb, (*buf)[:2*rows*d], l64)
	for i, v := range l64[:rows*c] {
		probs[i] = float32(v)
	}
	softmaxRows32(probs[:rows*c], c, p.b2)
}

// forwardLogits implements logitForwarder: the second layer's output plus
// its bias, in float64.
func (p *mlpProxy) forwardLogits(X *features.Matrix, lo, hi int, logits []float64) {
	checkLogits("mlp", X, lo, hi, p.d, p.c, logits)
	buf := p.scratch.get(2 * (hi - lo) * p.d)
	defer p.scratch.put(buf)
	p.logits(X, lo, hi, nil, *buf, logits)
	addBias(logits[:(hi-lo)*p.c], p.b2)
}

// logits writes the second layer's output of rows [lo,hi) of X, without its
// bias, into l64 ((hi-lo)*C), and the embedding into emb when it is non-nil.
// scratch holds 2*(hi-lo)*D values.
func (p *mlpProxy) logits(X *features.Matrix, lo, hi int, emb []float32, scratch, l64 []float64) {
	rows, d, c := hi-lo, p.d, p.c
	x64, h64 := scratch[:rows*d], scratch[rows*d:2*rows*d]
	toF64(x64, X.Data[lo*d:hi*d])
	nn.MatMul(false, true, rows, d, d, x64, d, p.w1w, d, h64, d, false)
	for i := range rows {
		row := h64[i*d : (i+1)*d]
		for j, v := range row {
			// Rounded to float32 so that the second layer sees exactly the
			// embedding Forward returns.
			row[j] = float64(max(float32(v)+p.b1[j], 0))
		}
		if emb != nil {
			er := emb[i*d : (i+1)*d]
			for j, v := range row {
				er[j] = float32(v)
			}
		}
	}
	nn.MatMul(false, true, rows, c, d, h64, d, p.w2w, d, l64, c, false)
}

// trainMLP trains the ASVP paper's proxy on standardised rows z (n×d):
// Linear(d,d) - BatchNorm1d - ReLU - Linear(d,c), built from models/nn's
// layers, with PyTorch's Linear initialisation, SGD with Nesterov momentum
// and a per-epoch cosine schedule. The trained network is folded into two
// float32 layers that act on raw features: eval-mode batch-norm into the
// first layer, and the standardisation (mu, sd) too.
func trainMLP(cfg ProxyConfig, z []float64, n, d int, y []int, c int, mu, sd []float64) (Proxy, error) {
	if n < 2 {
		return nil, fmt.Errorf("%w: mlp proxy needs at least 2 rows, got %d", ErrProxyData, n)
	}
	epochs := cfg.Epochs
	if epochs <= 0 {
		epochs = 50
	}
	bs := cfg.BatchSize
	if bs <= 0 {
		bs = min(256, (n+3)/4)
	}
	bs = max(min(bs, n), 2)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d6c70))
	fc1, bn, fc2 := nn.NewDense("fc1", d, d), nn.NewBatchNorm1d("bn", d), nn.NewDense("fc2", d, c)
	// PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
	// drawn in the order W1, b1, W2, b2.
	bound := 1 / math.Sqrt(float64(d))
	for _, p := range []*nn.Param{fc1.W, fc1.B, fc2.W, fc2.B} {
		for i := range p.Value {
			p.Value[i] = (2*rng.Float64() - 1) * bound
		}
	}
	relu := &nn.ReLU{}
	net := &nn.Sequential{Layers: []nn.Layer{fc1, bn, relu, fc2}}
	params := net.Params()
	for _, p := range params {
		p.Decay = true // the proxy's L2 applies to every parameter, as in the reference code
	}
	xb := nn.NewMatrix(bs, d)
	yb := make([]int, bs)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for ep := range epochs {
		lr := cfg.LR * 0.5 * (1 + math.Cos(math.Pi*float64(ep)/float64(epochs)))
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for start := 0; start+2 <= n; start += bs {
			m := min(bs, n-start)
			x := &nn.Matrix{Rows: m, Cols: d, Data: xb.Data[:m*d]}
			for r := range m {
				copy(x.Data[r*d:(r+1)*d], z[perm[start+r]*d:(perm[start+r]+1)*d])
				yb[r] = y[perm[start+r]]
			}
			for _, p := range params {
				p.ZeroGrad()
			}
			_, g := nn.SoftmaxCrossEntropy(net.Forward(x, true), yb[:m], 0)
			g = fc2.Backward(g)
			g = relu.Backward(g)
			fc1.BackwardParams(bn.Backward(g)) // the input's gradient is not needed
			for _, p := range params {
				nn.SGDStep(p, lr, cfg.Momentum, cfg.L2)
			}
		}
	}
	for _, p := range params {
		for _, v := range p.Value {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("selector: mlp proxy: training diverged")
			}
		}
	}
	// Fold eval-mode batch-norm into the first layer: s = gamma/sqrt(rv+eps),
	// W1' = s·W1, b1' = s·(b1 - rm) + beta; then fold standardisation.
	w1, b1 := fc1.W.Value, fc1.B.Value
	fw := make([]float64, d*d)
	fb := make([]float64, d)
	for r := range d {
		s := bn.Gamma.Value[r] / math.Sqrt(bn.RunVar[r]+bn.Eps)
		for j := range d {
			fw[r*d+j] = s * w1[r*d+j]
		}
		fb[r] = s*(b1[r]-bn.RunMean[r]) + bn.Beta.Value[r]
	}
	w1f, b1f := foldLinear(fw, fb, d, d, mu, sd)
	w2f := make([]float32, c*d)
	for i, v := range fc2.W.Value {
		w2f[i] = float32(v)
	}
	b2f := make([]float32, c)
	for i, v := range fc2.B.Value {
		b2f[i] = float32(v)
	}
	return &mlpProxy{d: d, c: c, w1: w1f, b1: b1f, w2: w2f, b2: b2f, w1w: widen(w1f), w2w: widen(w2f)}, nil
}

// Predict returns the class probabilities of every row of X (Rows×C,
// row-major), computed in parallel over fixed row blocks.
func Predict(p Proxy, X *features.Matrix) []float32 {
	c := p.NumClasses()
	out := make([]float32, X.Rows*c)
	_ = selParallel(contextBackground(), X.Rows, selBlockRows, 0, func(_, lo, hi int) {
		p.Forward(X, lo, hi, out[lo*c:hi*c], nil)
	})
	return out
}

// Accuracy returns the fraction of rows of X whose most probable class
// (lowest index on ties) equals y. It returns 0 for an empty X.
func Accuracy(p Proxy, X *features.Matrix, y []int) float64 {
	if X.Rows == 0 {
		return 0
	}
	if len(y) != X.Rows {
		panic(fmt.Sprintf("selector: Accuracy: %d labels for %d rows", len(y), X.Rows))
	}
	probs := Predict(p, X)
	c := p.NumClasses()
	hit := 0
	for i := range X.Rows {
		if argmax32(probs[i*c:(i+1)*c]) == y[i] {
			hit++
		}
	}
	return float64(hit) / float64(X.Rows)
}

// argmax32 returns the index of the largest value, the lowest on ties.
func argmax32(v []float32) int {
	best := 0
	for j := 1; j < len(v); j++ {
		if v[j] > v[best] {
			best = j
		}
	}
	return best
}

func (p *linearProxy) inputDim() int { return p.d }
func (p *mlpProxy) inputDim() int    { return p.d }
