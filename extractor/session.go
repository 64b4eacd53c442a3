package extractor

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	ort "github.com/yalue/onnxruntime_go"
)

// ErrModelMismatch means an ONNX file does not fit the card it was given.
var ErrModelMismatch = errors.New("model does not fit its card")

// SessionOptions tunes ONNX Runtime's threading. Zero values leave the runtime's defaults.
type SessionOptions struct {
	IntraOpThreads int
	InterOpThreads int
	// Expose names tensors inside the graph (a cut activation and the
	// frozen inputs of the tail above it) that the session returns after the
	// requested outputs, as if they were graph outputs; their per-sample
	// sizes come from the graph. The file is not changed: the graph is
	// extended in memory.
	Expose []string
}

// Session is one loaded backbone that returns the requested outputs.
// A Session is not safe for concurrent Run calls.
type Session struct {
	card    models.Card
	path    string
	outputs []string
	dims    []int
	shapes  [][]int64 // per output: its declared shape past the batch axis, nil when any of it is dynamic
	s       *ort.DynamicAdvancedSession
	runOpts *ort.RunOptions
}

// ModelInfo describes an ONNX file's inputs and outputs as the runtime sees them.
type ModelInfo struct {
	Inputs  []ort.InputOutputInfo
	Outputs []ort.InputOutputInfo
}

// SampleDim returns the number of values per sample of o: the product of
// its dimensions after the batch axis, or -1 when one of them is dynamic.
func SampleDim(o ort.InputOutputInfo) int64 {
	d := int64(1)
	for _, x := range o.Dimensions[min(1, len(o.Dimensions)):] {
		if x <= 0 {
			return -1
		}
		d *= x
	}
	return d
}

// CardOutputs returns the model's outputs whose per-sample size is fixed,
// as card outputs, in the model's order.
func (mi ModelInfo) CardOutputs() []models.Output {
	var out []models.Output
	for _, o := range mi.Outputs {
		if d := SampleDim(o); d > 0 {
			out = append(out, models.Output{Name: o.Name, Dim: int(d)})
		}
	}
	return out
}

// Inspect reads an ONNX file's inputs and outputs. The Runtime must be open.
func Inspect(path string) (ModelInfo, error) {
	in, out, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("extractor: %s is not a loadable ONNX model: %w", path, err)
	}
	return ModelInfo{Inputs: in, Outputs: out}, nil
}

// CheckCard reports how an ONNX file's inputs and outputs disagree with a
// card, and returns the dimension of each requested output.
func (mi ModelInfo) CheckCard(path string, card models.Card, outputs []string) ([]int, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("extractor: model %s (card %q): %s: %w", path, card.Name, fmt.Sprintf(format, a...), ErrModelMismatch)
	}
	i := slices.IndexFunc(mi.Inputs, func(x ort.InputOutputInfo) bool { return x.Name == card.Input })
	if i < 0 {
		return nil, bad("no input %q (inputs: %s)", card.Input, infoNames(mi.Inputs))
	}
	in := mi.Inputs[i]
	if in.DataType != ort.TensorElementDataTypeFloat {
		return nil, bad("input %q is %s, asvp feeds float32", in.Name, in.DataType)
	}
	if len(in.Dimensions) != 4 {
		return nil, bad("input %q has shape %v, want 4 dimensions (%s)", in.Name, in.Dimensions, card.Layout)
	}
	want := []int64{-1, int64(card.Height), int64(card.Width), 3}
	if card.Layout == "NCHW" {
		want = []int64{-1, 3, int64(card.Height), int64(card.Width)}
	}
	for k := 1; k < 4; k++ {
		if d := in.Dimensions[k]; d > 0 && d != want[k] {
			return nil, bad("input %q has shape %v, the card feeds %s %v", in.Name, in.Dimensions, card.Layout, want)
		}
	}
	dims := make([]int, len(outputs))
	for k, name := range outputs {
		j := slices.IndexFunc(mi.Outputs, func(x ort.InputOutputInfo) bool { return x.Name == name })
		if j < 0 {
			return nil, bad("no output %q (outputs: %s)", name, infoNames(mi.Outputs))
		}
		o := mi.Outputs[j]
		if o.DataType != ort.TensorElementDataTypeFloat {
			return nil, bad("output %q is %s, want float32", name, o.DataType)
		}
		d := SampleDim(o)
		co, inCard := card.Output(name)
		switch {
		case d > 0 && inCard && int64(co.Dim) != d:
			return nil, bad("output %q has %d values per sample, the card says %d", name, d, co.Dim)
		case d > 0:
			dims[k] = int(d)
		case inCard:
			dims[k] = co.Dim
		default:
			return nil, bad("output %q has a dynamic shape %v and the card gives no dimension", name, o.Dimensions)
		}
	}
	return dims, nil
}

func infoNames(xs []ort.InputOutputInfo) string {
	names := make([]string, len(xs))
	for i, x := range xs {
		names[i] = x.Name
	}
	return strings.Join(names, ", ")
}

// OpenSession loads the ONNX file at path for the outputs named, after
// checking it against the card. The Runtime must stay open while the Session lives.
func OpenSession(_ *Runtime, card models.Card, path string, outputs []string, opts SessionOptions) (*Session, error) {
	if err := card.Validate(); err != nil {
		return nil, err
	}
	if len(outputs) == 0 {
		outputs = []string{card.DefaultOutput}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("extractor: %w", err)
	}
	if len(opts.Expose) > 0 {
		if data, err = onnxgraph.AddOutputs(data, opts.Expose...); err != nil {
			return nil, fmt.Errorf("extractor: %s: expose %s: %w", path, strings.Join(opts.Expose, ", "), err)
		}
		outputs = append(slices.Clone(outputs), opts.Expose...)
	}
	in, out, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("extractor: %s is not a loadable ONNX model: %w", path, err)
	}
	mi := ModelInfo{Inputs: in, Outputs: out}
	if card, err = exposeSizes(card, data, opts.Expose); err != nil {
		return nil, fmt.Errorf("extractor: %s: %w", path, err)
	}
	dims, err := mi.CheckCard(path, card, outputs)
	if err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("extractor: session options: %w", err)
	}
	defer so.Destroy()
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("extractor: intra-op threads: %w", err)
		}
	}
	if opts.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opts.InterOpThreads); err != nil {
			return nil, fmt.Errorf("extractor: inter-op threads: %w", err)
		}
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{card.Input}, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("extractor: load %s: %w", path, err)
	}
	ro, err := ort.NewRunOptions()
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("extractor: run options: %w", err)
	}
	shapes := make([][]int64, len(outputs))
	for k, name := range outputs {
		o := mi.Outputs[slices.IndexFunc(mi.Outputs, func(x ort.InputOutputInfo) bool { return x.Name == name })]
		rest := slices.Clone(o.Dimensions[min(1, len(o.Dimensions)):])
		if !slices.ContainsFunc(rest, func(d int64) bool { return d <= 0 }) {
			shapes[k] = rest
		}
	}
	return &Session{card: card, path: path, outputs: slices.Clone(outputs), dims: dims, shapes: shapes, s: s, runOpts: ro}, nil
}

// Outputs returns the names of the outputs the session computes.
func (s *Session) Outputs() []string { return slices.Clone(s.outputs) }

// Dims returns the per-sample dimension of each output.
func (s *Session) Dims() []int { return slices.Clone(s.dims) }

// Card returns the session's card.
func (s *Session) Card() models.Card { return s.card }

// Run computes the outputs of n preprocessed images held in input (n*H*W*3
// values, the card's layout). It returns one slice of n*dim values per
// output, in Go memory. input is read, never kept.
func (s *Session) Run(input []float32, n int) ([][]float32, error) {
	c := s.card
	per := c.Height * c.Width * 3
	if n <= 0 || len(input) < n*per {
		return nil, fmt.Errorf("extractor: run: %d values for %d images of %d", len(input), n, per)
	}
	shape := ort.NewShape(int64(n), int64(c.Height), int64(c.Width), 3)
	if c.Layout == "NCHW" {
		shape = ort.NewShape(int64(n), 3, int64(c.Height), int64(c.Width))
	}
	in, err := ort.NewTensor(shape, input[:n*per])
	if err != nil {
		return nil, fmt.Errorf("extractor: input tensor: %w", err)
	}
	defer in.Destroy() // only after Run has returned: the runtime no longer reads it
	// Outputs of a fixed declared shape are written by the runtime straight
	// into Go slices that the caller then owns (no runtime allocation, no
	// copy); others are allocated by the runtime, copied out and destroyed.
	res := make([][]float32, len(s.outputs))
	outs := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	for k, d := range s.dims {
		if s.shapes[k] == nil {
			continue
		}
		res[k] = make([]float32, n*d)
		t, err := ort.NewTensor(append(ort.Shape{int64(n)}, s.shapes[k]...), res[k])
		if err != nil {
			return nil, fmt.Errorf("extractor: output tensor %q: %w", s.outputs[k], err)
		}
		outs[k] = t
	}
	if err := s.s.RunWithOptions([]ort.Value{in}, outs, s.runOpts); err != nil {
		return nil, fmt.Errorf("extractor: run %s on %d images: %w", s.path, n, err)
	}
	for k, o := range outs {
		if res[k] != nil {
			continue
		}
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("extractor: output %q is %T, want a float32 tensor", s.outputs[k], o)
		}
		data := t.GetData()
		if len(data) != n*s.dims[k] {
			return nil, fmt.Errorf("extractor: output %q has %d values for %d images, want %d each (shape %v)",
				s.outputs[k], len(data), n, s.dims[k], t.GetShape())
		}
		res[k] = slices.Clone(data)
	}
	return res, nil
}

// Terminate asks a Run in progress on another goroutine to stop early; that
// Run returns an error. Safe to call at any time.
func (s *Session) Terminate() error { return s.runOpts.Terminate() }

// clearTerminate makes the session runnable again after a Terminate.
func (s *Session) clearTerminate() error { return s.runOpts.UnsetTerminate() }

// Close frees the session. It must not run concurrently with Run.
func (s *Session) Close() error {
	err := errors.Join(s.runOpts.Destroy(), s.s.Destroy())
	if err != nil {
		return fmt.Errorf("extractor: close session: %w", err)
	}
	return nil
}

// exposeSizes adds to card the per-sample sizes of the exposed tensors,
// inferred from the graph at the card's input size.
func exposeSizes(card models.Card, data []byte, names []string) (models.Card, error) {
	if len(names) == 0 {
		return card, nil
	}
	m, err := onnxgraph.Parse(data)
	if err != nil {
		return card, err
	}
	in := []int{-1, card.Height, card.Width, 3}
	if card.Layout == "NCHW" {
		in = []int{-1, 3, card.Height, card.Width}
	}
	card.Outputs = slices.Clone(card.Outputs)
	for _, name := range names {
		if _, have := card.Output(name); have {
			continue
		}
		sh, ok := m.Shape(name, map[string][]int{card.Input: in})
		dim := 1
		for _, d := range sh[min(1, len(sh)):] {
			dim *= d
		}
		if !ok || len(sh) < 2 || dim <= 0 {
			return card, fmt.Errorf("expose %s: no fixed per-sample shape at input %dx%d (got %v): %w", name, card.Height, card.Width, sh, ErrModelMismatch)
		}
		card.Outputs = append(card.Outputs, models.Output{Name: name, Dim: dim})
	}
	return card, nil
}
