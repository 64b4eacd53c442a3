package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// gradCheck compares a layer's Backward with central finite differences of
// L(x) = Σ r ⊙ layer(x) for the input and every parameter.
func gradCheck(t *testing.T, name string, layer Layer, x *Matrix, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, 1))
	out := layer.Forward(x, true)
	r := randMatrix(rng, out.Rows, out.Cols)
	loss := func() float64 {
		y := layer.Forward(x, true)
		var s float64
		for i, v := range y.Data {
			s += v * r.Data[i]
		}
		return s
	}
	for _, p := range layer.Params() {
		p.ZeroGrad()
	}
	layer.Forward(x, true)
	dx := layer.Backward(r)
	const h = 1e-5
	check := func(what string, v []float64, analytic []float64) {
		for i := range v {
			old := v[i]
			v[i] = old + h
			lp := loss()
			v[i] = old - h
			lm := loss()
			v[i] = old
			num := (lp - lm) / (2 * h)
			if math.Abs(num-analytic[i]) > tol*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: d/d%s[%d]: analytic %.9g, numeric %.9g", name, what, i, analytic[i], num)
				return
			}
		}
	}
	check("x", x.Data, dx.Data)
	for _, p := range layer.Params() {
		check(p.Name, p.Value, p.Grad)
	}
}

func TestLayerGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dense := func(name string, in, out int) *Dense {
		d := NewDense(name, in, out)
		for i := range d.W.Value {
			d.W.Value[i] = rng.NormFloat64() * 0.5
		}
		for i := range d.B.Value {
			d.B.Value[i] = rng.NormFloat64() * 0.5
		}
		return d
	}
	bn := NewBatchNorm1d("bn", 4)
	for j := range 4 {
		bn.Gamma.Value[j] = 0.5 + rng.Float64()
		bn.Beta.Value[j] = rng.NormFloat64()
	}
	// Keep ReLU inputs away from the kink at 0, where differences jump.
	reluIn := randMatrix(rng, 5, 4)
	for i, v := range reluIn.Data {
		if math.Abs(v) < 0.05 {
			reluIn.Data[i] = 0.3
		}
	}
	adapter := NewAdapter(4, 3, rng)
	for i := range adapter.FC2.W.Value {
		adapter.FC2.W.Value[i] = rng.NormFloat64()
	}
	tests := []struct {
		name  string
		layer Layer
		x     *Matrix
	}{
		{"dense", dense("d", 4, 3), randMatrix(rng, 5, 4)},
		{"relu", &ReLU{}, reluIn},
		{"gelu", &GELU{}, randMatrix(rng, 5, 4)},
		{"batchnorm", bn, randMatrix(rng, 6, 4)},
		{"residual", NewResidual(dense("r1", 4, 6), &GELU{}, dense("r2", 6, 4)), randMatrix(rng, 5, 4)},
		{"sequential", &Sequential{Layers: []Layer{dense("s1", 4, 5), NewBatchNorm1d("sbn", 5), &GELU{}, dense("s2", 5, 2)}}, randMatrix(rng, 7, 4)},
		{"adapter", adapter, randMatrix(rng, 5, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { gradCheck(t, tc.name, tc.layer, tc.x, 1e-6) })
	}
}

// TestDenseForward compares Dense with a textbook triple loop.
func TestDenseForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := NewDense("d", 70, 130) // big enough for gonum's parallel Gemm
	for i := range d.W.Value {
		d.W.Value[i] = rng.NormFloat64()
	}
	for i := range d.B.Value {
		d.B.Value[i] = rng.NormFloat64()
	}
	x := randMatrix(rng, 300, 70)
	y := d.Forward(x, false)
	for i := range 300 {
		for o := range 130 {
			want, scale := d.B.Value[o], math.Abs(d.B.Value[o])
			for k := range 70 {
				want += x.Data[i*70+k] * d.W.Value[o*70+k]
				scale += math.Abs(x.Data[i*70+k] * d.W.Value[o*70+k])
			}
			if math.Abs(y.Data[i*130+o]-want) > 1e-13*scale {
				t.Fatalf("y[%d,%d] = %g, want %g", i, o, y.Data[i*130+o], want)
			}
		}
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	// Hand-computed: logits (0, ln 3) -> p = (1/4, 3/4).
	logits := &Matrix{Rows: 1, Cols: 2, Data: []float64{0, math.Log(3)}}
	tests := []struct {
		name      string
		y         int
		smoothing float64
		loss      float64
		grad      [2]float64
	}{
		{"class0", 0, 0, math.Log(4), [2]float64{0.25 - 1, 0.75}},
		{"class1", 1, 0, -math.Log(0.75), [2]float64{0.25, 0.75 - 1}},
		// targets (0.1, 0.9) with smoothing 0.2 and true class 1
		{"smoothed", 1, 0.2, -(0.1*math.Log(0.25) + 0.9*math.Log(0.75)), [2]float64{0.25 - 0.1, 0.75 - 0.9}},
	}
	for _, tc := range tests {
		loss, g := SoftmaxCrossEntropy(logits, []int{tc.y}, tc.smoothing)
		if relErr(loss, tc.loss) > 1e-12 {
			t.Errorf("%s: loss %g, want %g", tc.name, loss, tc.loss)
		}
		for k := range 2 {
			if math.Abs(g.Data[k]-tc.grad[k]) > 1e-12 {
				t.Errorf("%s: grad[%d] %g, want %g", tc.name, k, g.Data[k], tc.grad[k])
			}
		}
	}
	// Gradient of the mean loss over a batch, against finite differences.
	rng := rand.New(rand.NewPCG(5, 6))
	lg := randMatrix(rng, 4, 3)
	y := []int{0, 2, 1, 2}
	_, g := SoftmaxCrossEntropy(lg, y, 0.1)
	for i := range lg.Data {
		old := lg.Data[i]
		lg.Data[i] = old + 1e-6
		lp, _ := SoftmaxCrossEntropy(lg, y, 0.1)
		lg.Data[i] = old - 1e-6
		lm, _ := SoftmaxCrossEntropy(lg, y, 0.1)
		lg.Data[i] = old
		if num := (lp - lm) / 2e-6; math.Abs(num-g.Data[i]) > 1e-7 {
			t.Errorf("grad[%d] = %g, numeric %g", i, g.Data[i], num)
		}
	}
}

func TestSGDNesterovStep(t *testing.T) {
	// Two steps by hand, lr 0.1, mu 0.9, wd 0.5, w0 = 2, grads 1 then -1:
	// g1 = 1 + 1 = 2, v1 = 2, w1 = 2 - 0.1*(2 + 1.8) = 1.62
	// g2 = -1 + 0.81 = -0.19, v2 = 1.8 - 0.19 = 1.61, w2 = 1.62 - 0.1*(-0.19 + 1.449) = 1.4941
	p := newParam("p", true, 1)
	p.Value[0] = 2
	p.Grad[0] = 1
	sgdStep(p, 0.1, 0.9, 0.5)
	if math.Abs(p.Value[0]-1.62) > 1e-12 {
		t.Fatalf("after step 1: %g, want 1.62", p.Value[0])
	}
	p.Grad[0] = -1
	sgdStep(p, 0.1, 0.9, 0.5)
	if math.Abs(p.Value[0]-1.4941) > 1e-12 {
		t.Fatalf("after step 2: %g, want 1.4941", p.Value[0])
	}
	q := newParam("q", false, 1) // no decay
	q.Value[0], q.Grad[0] = 2, 1
	sgdStep(q, 0.1, 0.9, 0.5)
	if math.Abs(q.Value[0]-1.81) > 1e-12 {
		t.Fatalf("no-decay step: %g, want 1.81", q.Value[0])
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name                       string
		r                          Recipe
		step, total, epoch, epochs int
		want                       float64
	}{
		{"cosine start", Recipe{Schedule: ScheduleCosine}, 0, 100, 0, 10, 1},
		{"cosine middle", Recipe{Schedule: ScheduleCosine}, 50, 100, 5, 10, 0.5},
		{"cosine quarter", Recipe{}, 25, 100, 2, 10, 0.5 + math.Sqrt2/4},
		{"step first", Recipe{Schedule: ScheduleStep}, 0, 0, 2, 9, 1},
		{"step second", Recipe{Schedule: ScheduleStep}, 0, 0, 3, 9, 0.1},
		{"step custom", Recipe{Schedule: ScheduleStep, StepEvery: 2, StepGamma: 0.5}, 0, 0, 5, 9, 0.25},
		{"constant", Recipe{Schedule: ScheduleConstant}, 70, 100, 7, 10, 1},
	}
	for _, tc := range tests {
		if got := schedule(tc.r, tc.step, tc.total, tc.epoch, tc.epochs); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %g, want %g", tc.name, got, tc.want)
		}
	}
}

func TestEmbedIdentityAtInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const rows, dim = 50, 12
	x := make([]float32, rows*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*1e3 + 7)
	}
	net := NewNet(dim, 6, 3, 1)
	net.Mean[0], net.Std[0] = 5, 3 // a non-trivial standardisation
	dst := make([]float32, len(x))
	net.Embed(x, rows, dst)
	for i := range x {
		if dst[i] != x[i] {
			t.Fatalf("Embed changed value %d: %v -> %v", i, x[i], dst[i])
		}
	}
	// LP keeps the adapter at the identity: Embed is still exact.
	y := make([]int, rows)
	for i := range y {
		y[i] = i % 3
	}
	r := DefaultRecipe(MethodLP)
	r.Epochs = 3
	trained, _, err := Train(r, x, rows, dim, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	trained.Embed(x, rows, dst)
	for i := range x {
		if dst[i] != x[i] {
			t.Fatalf("after LP, Embed changed value %d: %v -> %v", i, x[i], dst[i])
		}
	}
}

// TestEmbedMatchesDefinition checks Embed of a trained net against the
// formula written out with the exported weights.
func TestEmbedMatchesDefinition(t *testing.T) {
	const rows, dim, c = 60, 5, 3
	x, y := blobs(rows, dim, c, 3, 4)
	r := DefaultRecipe(MethodFT)
	r.Epochs, r.Hidden = 5, 4
	net, _, err := Train(r, x, rows, dim, y, c)
	if err != nil {
		t.Fatal(err)
	}
	w := net.Weights()
	emb := make([]float32, len(x))
	net.Embed(x, rows, emb)
	probs := net.Predict(x, rows)
	var branchNorm float64
	for i := range rows {
		z := make([]float64, dim)
		for j := range dim {
			z[j] = (float64(x[i*dim+j]) - float64(w.Mean[j])) / float64(w.Std[j])
		}
		h := make([]float64, w.Hidden)
		for o := range w.Hidden {
			s := float64(w.B1[o])
			for j := range dim {
				s += float64(w.W1[o*dim+j]) * z[j]
			}
			h[o] = math.Max(0, s)
		}
		a := make([]float64, dim)
		for j := range dim {
			s := float64(w.B2[j])
			for o := range w.Hidden {
				s += float64(w.W2[j*w.Hidden+o]) * h[o]
			}
			branchNorm += s * s
			a[j] = z[j] + s
			want := float64(x[i*dim+j]) + float64(w.Std[j])*s
			if relErr(float64(emb[i*dim+j]), want) > 1e-5 {
				t.Fatalf("embed[%d,%d] = %g, want %g", i, j, emb[i*dim+j], want)
			}
		}
		logits := make([]float64, c)
		var maxL float64 = math.Inf(-1)
		for k := range c {
			s := float64(w.HeadB[k])
			for j := range dim {
				s += float64(w.HeadW[k*dim+j]) * a[j]
			}
			logits[k] = s
			maxL = math.Max(maxL, s)
		}
		var sum float64
		for k := range c {
			sum += math.Exp(logits[k] - maxL)
		}
		for k := range c {
			want := math.Exp(logits[k]-maxL) / sum
			if math.Abs(float64(probs[i*c+k])-want) > 1e-5 {
				t.Fatalf("probs[%d,%d] = %g, want %g", i, k, probs[i*c+k], want)
			}
		}
	}
	if branchNorm == 0 {
		t.Fatal("FT left the adapter at the identity")
	}
}

func TestLPLeavesAdapterUnchanged(t *testing.T) {
	const rows, dim, c = 90, 8, 3
	x, y := blobs(rows, dim, c, 2, 5)
	r := DefaultRecipe(MethodLP)
	r.Epochs, r.Seed, r.Hidden = 5, 42, 4
	net, _, err := Train(r, x, rows, dim, y, c)
	if err != nil {
		t.Fatal(err)
	}
	fresh := NewNet(dim, 4, c, 42)
	for k, p := range net.Adapter.Params() {
		q := fresh.Adapter.Params()[k]
		for i := range p.Value {
			if p.Value[i] != q.Value[i] {
				t.Fatalf("%s[%d] changed from %g to %g", p.Name, i, q.Value[i], p.Value[i])
			}
		}
	}
	changed := false
	for i := range net.Head.W.Value {
		changed = changed || net.Head.W.Value[i] != fresh.Head.W.Value[i]
	}
	if !changed {
		t.Fatal("LP did not train the head")
	}
}

func saveBytes(t *testing.T, n *Net) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := n.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterminism(t *testing.T) {
	// Sizes large enough that gonum's Gemm goes parallel (>= 4 blocks of 64).
	const rows, dim, c = 300, 150, 4
	x, y := blobs(rows, dim, c, 1, 6)
	r := DefaultRecipe(MethodLPFT)
	r.Epochs, r.LPEpochs, r.BatchSize, r.Hidden = 2, 2, 256, 130
	train := func(seed uint64, procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		r.Seed = seed
		net, _, err := Train(r, x, rows, dim, y, c)
		if err != nil {
			t.Fatal(err)
		}
		return saveBytes(t, net)
	}
	a := train(1, 1)
	if b := train(1, 1); !bytes.Equal(a, b) {
		t.Error("same seed gave different weights")
	}
	if b := train(1, 4); !bytes.Equal(a, b) {
		t.Error("GOMAXPROCS 4 gave different weights than GOMAXPROCS 1")
	}
	if b := train(2, 1); bytes.Equal(a, b) {
		t.Error("different seeds gave identical weights")
	}
}

func TestSaveLoad(t *testing.T) {
	const rows, dim, c = 80, 6, 3
	x, y := blobs(rows, dim, c, 2, 7)
	r := DefaultRecipe(MethodFT)
	r.Epochs = 4
	net, _, err := Train(r, x, rows, dim, y, c)
	if err != nil {
		t.Fatal(err)
	}
	data := saveBytes(t, net)
	got, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Recipe != net.Recipe {
		t.Errorf("recipe %+v, want %+v", got.Recipe, net.Recipe)
	}
	p1, p2 := net.Predict(x, rows), got.Predict(x, rows)
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("prediction %d: %v after load, %v before", i, p2[i], p1[i])
		}
	}
	e1, e2 := make([]float32, len(x)), make([]float32, len(x))
	net.Embed(x, rows, e1)
	got.Embed(x, rows, e2)
	for i := range e1 {
		if e1[i] != e2[i] {
			t.Fatalf("embedding %d: %v after load, %v before", i, e2[i], e1[i])
		}
	}

	resum := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		return b
	}
	mutate := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), data...)) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return resum(b) }), ErrFormat},
		{"flipped weight bit", mutate(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), ErrFormat},
		{"truncated", data[:len(data)-9], ErrFormat},
		{"extra weights", mutate(func(b []byte) []byte { return resum(append(b, 0, 0, 0, 0, 0, 0, 0, 0)) }), ErrFormat},
		{"newer version", mutate(func(b []byte) []byte { b[8] = 2; return resum(b) }), ErrVersion},
		{"huge header", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<30); return resum(b) }), ErrFormat},
	}
	for _, tc := range tests {
		if _, err := Load(bytes.NewReader(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSeparable(t *testing.T) {
	const rows, dim, c = 400, 10, 5
	x, y := blobs(rows, dim, c, 4, 8)
	xt, yt := blobs(500, dim, c, 4, 9)
	for _, m := range []string{MethodLP, MethodFT, MethodLPFT} {
		t.Run(m, func(t *testing.T) {
			r := DefaultRecipe(m)
			r.Epochs, r.LPEpochs = 10, 10
			net, st, err := Train(r, x, rows, dim, y, c)
			if err != nil {
				t.Fatal(err)
			}
			if st.TrainAcc < 0.99 {
				t.Errorf("train accuracy %.3f, want >= 0.99", st.TrainAcc)
			}
			if a := testAccuracy(net.Predict(xt, 500), yt, c); a < 0.99 {
				t.Errorf("test accuracy %.3f, want >= 0.99", a)
			}
			wantStages := map[string]int{MethodLP: 1, MethodFT: 1, MethodLPFT: 2}[m]
			if len(st.Stages) != wantStages {
				t.Errorf("%d stages, want %d", len(st.Stages), wantStages)
			}
			first := st.Stages[0].EpochLoss[0]
			if !(st.FinalLoss() < first) {
				t.Errorf("loss did not fall: first epoch %g, last %g", first, st.FinalLoss())
			}
		})
	}
}

func TestTrainErrors(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	y := []int{0, 1}
	good := DefaultRecipe(MethodFT)
	with := func(f func(*Recipe)) Recipe { r := good; f(&r); return r }
	tests := []struct {
		name    string
		r       Recipe
		x       []float32
		rows    int
		y       []int
		classes int
		want    error
	}{
		{"unknown method", with(func(r *Recipe) { r.Method = "sgd" }), x, 2, y, 2, ErrInvalidRecipe},
		{"unknown schedule", with(func(r *Recipe) { r.Schedule = "linear" }), x, 2, y, 2, ErrInvalidRecipe},
		{"zero epochs", with(func(r *Recipe) { r.Epochs = 0 }), x, 2, y, 2, ErrInvalidRecipe},
		{"lpft without lp epochs", with(func(r *Recipe) { r.Method = MethodLPFT; r.LPEpochs = 0 }), x, 2, y, 2, ErrInvalidRecipe},
		{"zero batch", with(func(r *Recipe) { r.BatchSize = 0 }), x, 2, y, 2, ErrInvalidRecipe},
		{"negative lr", with(func(r *Recipe) { r.HeadLR = -1 }), x, 2, y, 2, ErrInvalidRecipe},
		{"nan lr", with(func(r *Recipe) { r.LR = math.NaN() }), x, 2, y, 2, ErrInvalidRecipe},
		{"momentum 1", with(func(r *Recipe) { r.Momentum = 1 }), x, 2, y, 2, ErrInvalidRecipe},
		{"smoothing 1", with(func(r *Recipe) { r.LabelSmoothing = 1 }), x, 2, y, 2, ErrInvalidRecipe},
		{"short x", good, x[:3], 2, y, 2, ErrInvalidData},
		{"short y", good, x, 2, y[:1], 2, ErrInvalidData},
		{"zero rows", good, nil, 0, nil, 2, ErrInvalidData},
		{"one class", good, x, 2, []int{0, 0}, 1, ErrInvalidData},
		{"label out of range", good, x, 2, []int{0, 2}, 2, ErrInvalidData},
		{"negative label", good, x, 2, []int{-1, 0}, 2, ErrInvalidData},
		{"nan feature", good, []float32{1, float32(math.NaN()), 3, 4}, 2, y, 2, ErrInvalidData},
	}
	for _, tc := range tests {
		_, _, err := Train(tc.r, tc.x, tc.rows, 2, tc.y, tc.classes)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// The inputs are never modified.
	xs := []float32{5, 6, 7, 8}
	ys := []int{1, 0}
	r := good
	r.Epochs = 2
	if _, _, err := Train(r, xs, 2, 2, ys, 2); err != nil {
		t.Fatal(err)
	}
	if xs[0] != 5 || xs[3] != 8 || ys[0] != 1 {
		t.Fatalf("Train modified its inputs: %v %v", xs, ys)
	}
}
