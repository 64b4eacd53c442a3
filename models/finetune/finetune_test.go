package finetune

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/tail"
)

// toyTail is a folded inverted-residual block on (4, 6, 6) activations:
// expand 1×1 to 16, ReLU6, depthwise 3×3, ReLU6, project 1×1 to 8, global
// pool, then concatenated after a frozen 3-vector: 11 features.
func toyTail(seed uint64) (*onnxgraph.Tail, []int, [][]int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := func(dims ...int) *onnxgraph.Tensor {
		t := &onnxgraph.Tensor{Dims: dims, Data: make([]float32, prod(dims))}
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64() * 0.4)
		}
		return t
	}
	conv := func(name, in string, k, group int) onnxgraph.Node {
		p := (k - 1) / 2
		return onnxgraph.Node{Name: name, Op: "Conv", Inputs: []string{in, name + ".w", name + ".b"}, Output: name,
			Kernel: [2]int{k, k}, Strides: [2]int{1, 1}, Pads: [4]int{p, p, p, p}, Group: group}
	}
	clip := func(name, in string) onnxgraph.Node {
		return onnxgraph.Node{Name: name, Op: "Clip", Inputs: []string{in}, Output: name, Min: 0, Max: 6}
	}
	t := &onnxgraph.Tail{Input: "x", Frozen: []string{"f"}, Outputs: []string{"cat"},
		Nodes: []onnxgraph.Node{
			conv("e", "x", 1, 1), clip("er", "e"), conv("d", "er", 3, 16), clip("dr", "d"), conv("p", "dr", 1, 1),
			{Name: "gp", Op: "GlobalAveragePool", Inputs: []string{"p"}, Output: "gp"},
			{Name: "fl", Op: "Flatten", Inputs: []string{"gp"}, Output: "fl", Axis: 1},
			{Name: "cat", Op: "Concat", Inputs: []string{"f", "fl"}, Output: "cat", Axis: 1},
		},
		Weights: map[string]*onnxgraph.Tensor{
			"e.w": w(16, 4, 1, 1), "e.b": w(16), "d.w": w(16, 1, 3, 3), "d.b": w(16), "p.w": w(8, 16, 1, 1), "p.b": w(8),
		}}
	return t, []int{4, 6, 6}, [][]int{{3}}
}

func randActs(rows int, seed uint64) Activations {
	rng := rand.New(rand.NewPCG(seed, 2))
	a := Activations{Rows: rows, X: make([]float32, rows*4*36), Frozen: [][]float32{make([]float32, rows*3)}}
	for i := range a.X {
		a.X[i] = float32(rng.NormFloat64() + 0.5)
	}
	for i := range a.Frozen[0] {
		a.Frozen[0][i] = float32(rng.NormFloat64())
	}
	return a
}

// toySetup returns a Pretrained calibrated on 256 samples, and 96
// labelled samples whose 3 classes depend on the activations' spatial
// pattern (which half of the map channel 0 is larger in) and on the frozen
// input: the pretrained pooled features see only part of it.
func toySetup(t testing.TB) (*Pretrained, Activations, []int) {
	t.Helper()
	tl, in, fz := toyTail(1)
	net, err := tail.New(tl, in, fz)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := Prepare(net, randActs(256, 3), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := randActs(96, 4)
	y := make([]int, a.Rows)
	for i := range y {
		x := a.X[i*144 : i*144+36] // channel 0
		var top, bottom float32
		for k, v := range x {
			if k < 18 {
				top += v
			} else {
				bottom += v
			}
		}
		switch {
		case a.Frozen[0][i*3] > 0.8:
			y[i] = 2
		case top > bottom:
			y[i] = 1
		}
	}
	return pre, a, y
}

func saved(t testing.TB, tu *Tuned) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tu.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func quick(method string) Recipe {
	r := DefaultRecipe(method)
	r.Epochs = 6
	r.BatchSize = 32
	return r
}

// TestTrainDeterministic checks that the same seed gives the same weights
// bit for bit whatever GOMAXPROCS and the worker count, and another seed
// other weights.
func TestTrainDeterministic(t *testing.T) {
	pre, a, y := toySetup(t)
	for _, method := range []string{MethodFT, MethodLPFT} {
		t.Run(method, func(t *testing.T) {
			var files [][]byte
			for _, procs := range []int{1, 2} {
				for _, workers := range []int{0, 1, 3} {
					old := runtime.GOMAXPROCS(procs)
					r := quick(method)
					r.Workers = workers
					tu, _, err := Train(pre, r, a, y, 3)
					runtime.GOMAXPROCS(old)
					if err != nil {
						t.Fatal(err)
					}
					files = append(files, weights(tu))
				}
			}
			for i := range files[1:] {
				if !bytes.Equal(files[0], files[i+1]) {
					t.Errorf("run %d differs from run 0", i+1)
				}
			}
			r := quick(method)
			r.Seed = 2
			tu, _, err := Train(pre, r, a, y, 3)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(weights(tu), files[0]) {
				t.Error("seed 2 gives the weights of seed 1")
			}
		})
	}
}

// TestTrainStartsFromPretrained checks that Train leaves the Pretrained
// as it was, that LP leaves the tail (and so the features) untouched, and
// that FT moves it.
func TestTrainStartsFromPretrained(t *testing.T) {
	pre, a, y := toySetup(t)
	before := snapshot(pre.net)
	f0, err := pre.Features(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{MethodLP, MethodFT, MethodLPFT} {
		tu, _, err := Train(pre, quick(method), a, y, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(snapshot(pre.net), before) {
			t.Fatalf("%s changed the pretrained weights", method)
		}
		f, err := tu.Features(a)
		if err != nil {
			t.Fatal(err)
		}
		same := slices.Equal(f, f0)
		if method == MethodLP && !same {
			t.Errorf("lp changed the features")
		}
		if method != MethodLP && same {
			t.Errorf("%s did not change the features", method)
		}
	}
}

// weights returns the bytes of every weight and buffer of a fine-tune
// (not the recipe, which records the worker count).
func weights(tu *Tuned) []byte {
	var b []byte
	for _, v := range snapshot(tu.net) {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range tu.headTensors() {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b
}

func snapshot(n *tail.Net) []float32 {
	var v []float32
	for _, p := range n.Params() {
		v = append(v, p.Value...)
	}
	for _, b := range n.Buffers() {
		v = append(v, b.Value...)
	}
	return v
}

// TestTrainLearns checks that every method fits the labelled set, that
// fine-tuning (which sees the spatial pattern through the tail) fits it
// better than the probe, and that LP-FT's first stage is the LP method.
func TestTrainLearns(t *testing.T) {
	pre, a, y := toySetup(t)
	res := map[string]Stats{}
	for _, method := range []string{MethodLP, MethodFT, MethodLPFT} {
		r := DefaultRecipe(method)
		r.Epochs = 40
		r.BatchSize = 32
		_, st, err := Train(pre, r, a, y, 3)
		if err != nil {
			t.Fatal(err)
		}
		res[method] = st
		first, last := st.Stages[0].EpochLoss[0], st.FinalLoss()
		t.Logf("%-4s: loss %.3f -> %.3f, train accuracy %.3f", method, first, last, st.TrainAcc)
		if !(last < first) {
			t.Errorf("%s: loss went from %.3f to %.3f", method, first, last)
		}
	}
	if !(res[MethodFT].TrainAcc > res[MethodLP].TrainAcc) {
		t.Errorf("ft train accuracy %.3f not above lp %.3f", res[MethodFT].TrainAcc, res[MethodLP].TrainAcc)
	}
	if !slices.Equal(res[MethodLPFT].Stages[0].EpochLoss, res[MethodLP].Stages[0].EpochLoss) {
		t.Error("lpft's linear-probe stage differs from lp")
	}
	if len(res[MethodLPFT].Stages) != 2 || res[MethodLPFT].Stages[1].TailLR != DefaultRecipe(MethodLPFT).LPFTTailLR {
		t.Errorf("lpft stages %+v", res[MethodLPFT].Stages)
	}
}

func TestSaveLoad(t *testing.T) {
	pre, a, y := toySetup(t)
	tu, _, err := Train(pre, quick(MethodFT), a, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	data := saved(t, tu)
	back, err := Load(bytes.NewReader(data), pre)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := tu.Predict(a)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := back.Predict(a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p1, p2) || !bytes.Equal(saved(t, back), data) || back.Recipe != tu.Recipe {
		t.Error("a loaded fine-tune predicts or saves differently")
	}
	// A Pretrained of another structure (no BatchNorms) does not fit.
	tl, in, fz := toyTail(1)
	net, err := tail.New(tl, in, fz)
	if err != nil {
		t.Fatal(err)
	}
	other := &Pretrained{net: net, Mean: pre.Mean, Std: pre.Std}
	tests := []struct {
		name string
		data []byte
		pre  *Pretrained
		want error
	}{
		{"flipped byte", flip(data, len(data)/2), pre, ErrFormat},
		{"truncated", data[:len(data)-9], pre, ErrFormat},
		{"empty", nil, pre, ErrFormat},
		{"other tail", data, other, ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(bytes.NewReader(tc.data), tc.pre); !errors.Is(err, tc.want) {
				t.Errorf("Load: %v, want %v", err, tc.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x40
	return c
}

func TestPrepare(t *testing.T) {
	tl, in, fz := toyTail(1)
	net, err := tail.New(tl, in, fz)
	if err != nil {
		t.Fatal(err)
	}
	calib := randActs(200, 3)
	pre, err := Prepare(net, calib, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pre.BatchNorm.Inserted != 3 || pre.Dim() != 11 {
		t.Errorf("report %+v dim %d, want 3 BatchNorms and 11 features", pre.BatchNorm, pre.Dim())
	}
	want, err := net.Forward(calib.X, calib.Frozen, calib.Rows, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pre.Features(calib)
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for i := range got {
		d = math.Max(d, math.Abs(float64(got[i]-want[0][i])))
	}
	if d > 1e-5 {
		t.Errorf("pretrained features differ from the folded tail's by %.2g", d)
	}
	// The standardisation is that of the pretrained features.
	var m float64
	for i := range calib.Rows {
		m += float64(got[i*11+5])
	}
	if m /= float64(calib.Rows); math.Abs(m-pre.Mean[5]) > 1e-6 {
		t.Errorf("mean of feature 5: %g, Prepare says %g", m, pre.Mean[5])
	}
	if _, err := Prepare(net, Activations{Rows: 3, X: make([]float32, 5)}, PrepareOptions{}); !errors.Is(err, ErrInvalidData) {
		t.Errorf("Prepare on bad activations: %v", err)
	}
}

func TestEpochsFor(t *testing.T) {
	r := DefaultRecipe(MethodFT)
	tests := []struct{ rows, want int }{{100, 100}, {200, 100}, {600, 50}, {1000, 30}, {1200, 25}, {3000, 10}, {20000, 10}}
	for _, tc := range tests {
		if got := r.EpochsFor(tc.rows); got != tc.want {
			t.Errorf("EpochsFor(%d) = %d, want %d", tc.rows, got, tc.want)
		}
	}
	r.Epochs = 7
	if got := r.EpochsFor(1000); got != 7 {
		t.Errorf("fixed epochs: %d", got)
	}
}

func TestTrainRejects(t *testing.T) {
	pre, a, y := toySetup(t)
	bad := func(f func(*Recipe)) Recipe {
		r := quick(MethodFT)
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		r       Recipe
		y       []int
		classes int
		want    error
	}{
		{"method", bad(func(r *Recipe) { r.Method = "sgd" }), y, 3, ErrInvalidRecipe},
		{"batch", bad(func(r *Recipe) { r.BatchSize = 0 }), y, 3, ErrInvalidRecipe},
		{"lr", bad(func(r *Recipe) { r.TailLR = math.NaN() }), y, 3, ErrInvalidRecipe},
		{"momentum", bad(func(r *Recipe) { r.Momentum = 1 }), y, 3, ErrInvalidRecipe},
		{"label", quick(MethodFT), append(slices.Clone(y[:len(y)-1]), 3), 3, ErrInvalidData},
		{"labels", quick(MethodFT), y[:5], 3, ErrInvalidData},
		{"classes", quick(MethodFT), y, 1, ErrInvalidData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Train(pre, tc.r, a, tc.y, tc.classes); !errors.Is(err, tc.want) {
				t.Errorf("Train: %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzLoad feeds arbitrary bytes to Load: it must return an error or a
// Tuned, never panic.
func FuzzLoad(f *testing.F) {
	pre, a, y := toySetup(f)
	tu, _, err := Train(pre, quick(MethodLP), a, y, 3)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved(f, tu))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Load(bytes.NewReader(data), pre)
	})
}
