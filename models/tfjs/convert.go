package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/models/onnxpb"
)

// Producer is the producer_name written into converted ONNX models.
const Producer = "asvp-import-tfjs"

// ProducerVersion is the producer_version written into converted models;
// it changes whenever the converter's output bytes change.
const ProducerVersion = "1"

// Opset is the ONNX default-domain opset version of converted models.
const Opset = 17

// irVersion is the ONNX IR version matching Opset 17.
const irVersion = 8

// InputName is the name of the converted model's only input: float32 NHWC
// [N, H, W, C] with symbolic N, H and W.
const InputName = "input"

// OutputSpec names one output of a converted model: the outputs of Layers,
// each global-average-pooled over H and W when it is 4-D, concatenated
// along the feature axis. Every output is float32 [N, D].
type OutputSpec struct {
	Name   string   `json:"name"`
	Layers []string `json:"layers"`
}

// DefaultOutputs returns the outputs of the nsfwjs MobileNetV2 model that
// asvp uses: probs (the 5-class softmax), pool_final (1280, pooled
// out_relu), pool_block_13 (160), pool_block_16 (320) and
// pool_blocks_10_13_16 (576, pooled block 10, 13 and 16 projections).
func DefaultOutputs() []OutputSpec {
	return []OutputSpec{
		{Name: "probs", Layers: []string{"dense_3"}},
		{Name: "pool_final", Layers: []string{"out_relu"}},
		{Name: "pool_block_13", Layers: []string{"block_13_project_BN"}},
		{Name: "pool_block_16", Layers: []string{"block_16_project_BN"}},
		{Name: "pool_blocks_10_13_16", Layers: []string{"block_10_project_BN", "block_13_project_BN", "block_16_project_BN"}},
	}
}

// ParseOutputSpecs parses a comma-separated list of NAME=LAYER[+LAYER...],
// e.g. "probs=dense_3,pool=block_13_project_BN+block_16_project_BN".
func ParseOutputSpecs(s string) ([]OutputSpec, error) {
	var out []OutputSpec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, layers, ok := strings.Cut(item, "=")
		if !ok || name == "" || layers == "" {
			return nil, fmt.Errorf("tfjs: output %q: want NAME=LAYER[+LAYER...]", item)
		}
		spec := OutputSpec{Name: name}
		for _, l := range strings.Split(layers, "+") {
			if l == "" {
				return nil, fmt.Errorf("tfjs: output %q: empty layer name", item)
			}
			spec.Layers = append(spec.Layers, l)
		}
		out = append(out, spec)
	}
	return out, nil
}

// Options configure (*Model).ToONNX.
type Options struct {
	// Outputs are the graph outputs; nil means DefaultOutputs().
	Outputs []OutputSpec
	// Source describes where the model came from (e.g. "nsfwjs@4.4.0
	// dist/models/mobilenet_v2"); it is recorded in metadata_props.
	Source string
}

// OutputInfo describes one output of a converted model.
type OutputInfo struct {
	Name   string   `json:"name"`
	Layers []string `json:"layers"`
	// Dim is the number of features per sample.
	Dim int `json:"dim"`
}

// Converted is the result of (*Model).Convert.
type Converted struct {
	// ONNX is the serialized model; the same input gives the same bytes.
	ONNX []byte
	// Outputs describe the graph outputs in order.
	Outputs []OutputInfo
}

// ToONNX converts the model to a serialized ONNX model; see Convert.
func (m *Model) ToONNX(opts Options) ([]byte, error) {
	c, err := m.Convert(opts)
	if err != nil {
		return nil, err
	}
	return c.ONNX, nil
}

// Convert converts the model to ONNX (opset 17, IR version 8).
//
// The graph takes float32 NHWC input named "input" with symbolic N, H and W
// and transposes it to NCHW. BatchNormalization directly after a Conv2D or
// DepthwiseConv2D (and only read by it) is folded into the convolution's
// weights, otherwise it becomes Mul and Add; ZeroPadding2D read only by a
// convolution is folded into its pads; "same" padding is written out as
// explicit pads, computed for spatial sizes that are multiples of every
// stride (so H and W must be multiples of the model's total stride, 32 for
// MobileNetV2); ReLU with max_value 6 is Clip(0, 6); Dropout is the
// identity; an AveragePooling2D that covers its whole input at the declared
// input size becomes GlobalAveragePool, so other input sizes work; Dense is
// MatMul and Add and its activation. Only layers that some output needs are
// converted. Node and tensor names are the Keras layer names; initializers
// are LAYER.weight and LAYER.bias.
func (m *Model) Convert(opts Options) (*Converted, error) {
	specs := opts.Outputs
	if specs == nil {
		specs = DefaultOutputs()
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("tfjs: no outputs requested")
	}
	if len(m.InputLayers) != 1 {
		return nil, fmt.Errorf("tfjs: model has %d inputs, want 1: %w", len(m.InputLayers), ErrUnsupported)
	}
	c := &converter{
		m:        m,
		tensor:   map[string]string{},
		shape:    map[string]shape{},
		padFor:   map[string][4]int{},
		skip:     map[string]bool{},
		inits:    map[string]bool{},
		pooled:   map[string]string{},
		wanted:   map[string]bool{},
		consumer: map[string][]string{},
	}
	names := map[string]bool{InputName: true}
	for _, s := range specs {
		if s.Name == "" || names[s.Name] || strings.ContainsAny(s.Name, "/.") || m.Layer(s.Name) != nil {
			return nil, fmt.Errorf("tfjs: output name %q is empty, repeated, contains '/' or '.', or names a layer", s.Name)
		}
		names[s.Name] = true
		if len(s.Layers) == 0 {
			return nil, fmt.Errorf("tfjs: output %q names no layer", s.Name)
		}
		for _, l := range s.Layers {
			if m.Layer(l) == nil {
				return nil, fmt.Errorf("tfjs: output %q: no layer %q in the model", s.Name, l)
			}
			c.wanted[l] = true
		}
	}
	if err := c.run(); err != nil {
		return nil, err
	}
	var infos []OutputInfo
	for _, s := range specs {
		info, err := c.output(s)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	outJSON, err := json.Marshal(infos)
	if err != nil {
		return nil, fmt.Errorf("tfjs: %w", err)
	}
	c.graph.Name = m.Name
	if c.graph.Name == "" {
		c.graph.Name = "tfjs_model"
	}
	meta := []*onnxpb.StringStringEntryProto{
		{Key: "source", Value: opts.Source},
		{Key: "source_format", Value: "tfjs-layers"},
		{Key: "source_files", Value: strings.Join(m.Files, " ")},
		{Key: "source_sha256", Value: m.SourceSHA256},
		{Key: "keras_version", Value: m.KerasVersion},
		{Key: "input_layout", Value: "NHWC"},
		{Key: "outputs", Value: string(outJSON)},
	}
	model := &onnxpb.ModelProto{
		IrVersion:       irVersion,
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    Producer,
		ProducerVersion: ProducerVersion,
		DocString:       "TF.js layers model " + m.Name + " converted by " + Producer,
		Graph:           &c.graph,
		MetadataProps:   meta,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("tfjs: marshal onnx: %w", err)
	}
	return &Converted{ONNX: b, Outputs: infos}, nil
}

// shape is a tensor's shape at the model's declared input size: rank 4
// tensors are NCHW (H and W 0 when unknown), rank 2 are [N, C].
type shape struct {
	rank, c, h, w int
}

type converter struct {
	m     *Model
	graph onnxpb.GraphProto
	// tensor maps a Keras layer name to the ONNX tensor holding its output.
	tensor map[string]string
	shape  map[string]shape // by Keras layer name
	// padFor maps a convolution layer to the zero padding (top, left,
	// bottom, right) of a folded ZeroPadding2D in front of it.
	padFor   map[string][4]int
	skip     map[string]bool // layers already handled (folded BatchNorm)
	inits    map[string]bool
	pooled   map[string]string // layer -> pooled [N, C] tensor
	wanted   map[string]bool   // layers whose outputs are graph outputs
	consumer map[string][]string
	needed   map[string]bool
}

func (c *converter) errorf(l *Layer, kind error, format string, args ...any) error {
	return fmt.Errorf("tfjs: layer %q (%s): %s: %w", l.Name, l.ClassName, fmt.Sprintf(format, args...), kind)
}

func (c *converter) run() error {
	// Keep only the layers some output needs.
	c.needed = map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if c.needed[n] {
			return
		}
		c.needed[n] = true
		for _, in := range c.m.Layer(n).Inbound {
			visit(in)
		}
	}
	for l := range c.wanted {
		visit(l)
	}
	for _, l := range c.m.Layers {
		if !c.needed[l.Name] {
			continue
		}
		for _, in := range l.Inbound {
			c.consumer[in] = append(c.consumer[in], l.Name)
		}
	}
	for i := range c.m.Layers {
		l := &c.m.Layers[i]
		if !c.needed[l.Name] || c.skip[l.Name] {
			continue
		}
		if l.ClassName != "InputLayer" && len(l.Inbound) == 0 {
			return c.errorf(l, ErrFormat, "no inputs")
		}
		if err := c.layer(l); err != nil {
			return err
		}
	}
	return nil
}

// onlyConsumer returns the single layer reading l's output, or nil.
func (c *converter) onlyConsumer(name string) *Layer {
	if cs := c.consumer[name]; len(cs) == 1 && !c.wanted[name] {
		return c.m.Layer(cs[0])
	}
	return nil
}

func (c *converter) in(l *Layer, i int) (string, shape) {
	return c.tensor[l.Inbound[i]], c.shape[l.Inbound[i]]
}

func (c *converter) node(op, name string, inputs []string, output string, attrs ...*onnxpb.AttributeProto) {
	c.graph.Node = append(c.graph.Node, &onnxpb.NodeProto{
		OpType: op, Name: name, Input: inputs, Output: []string{output}, Attribute: attrs,
	})
}

func (c *converter) init(name string, dims []int64, data []float32) string {
	if c.inits[name] {
		return name
	}
	c.inits[name] = true
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	c.graph.Initializer = append(c.graph.Initializer, &onnxpb.TensorProto{
		Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw,
	})
	return name
}

func (c *converter) initInt64(name string, data []int64) string {
	if c.inits[name] {
		return name
	}
	c.inits[name] = true
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	c.graph.Initializer = append(c.graph.Initializer, &onnxpb.TensorProto{
		Name: name, Dims: []int64{int64(len(data))}, DataType: int32(onnxpb.TensorProto_INT64), RawData: raw,
	})
	return name
}

func ints(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: int64(v)}
}

func dim(param string, value int) *onnxpb.TensorShapeProto_Dimension {
	if param != "" {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: param}}
	}
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(value)}}
}

func valueInfo(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: &onnxpb.TensorShapeProto{Dim: dims}},
	}}}
}

// layerConfig is the union of the Keras config fields the converter reads.
type layerConfig struct {
	BatchInputShape []*int          `json:"batch_input_shape"`
	DataFormat      string          `json:"data_format"`
	Padding         json.RawMessage `json:"padding"`
	Filters         int             `json:"filters"`
	KernelSize      []int           `json:"kernel_size"`
	Strides         []int           `json:"strides"`
	DilationRate    json.RawMessage `json:"dilation_rate"`
	Activation      string          `json:"activation"`
	UseBias         *bool           `json:"use_bias"`
	DepthMultiplier int             `json:"depth_multiplier"`
	Groups          int             `json:"groups"`
	Axis            json.RawMessage `json:"axis"`
	Epsilon         *float64        `json:"epsilon"`
	Center          *bool           `json:"center"`
	Scale           *bool           `json:"scale"`
	MaxValue        *float64        `json:"max_value"`
	NegativeSlope   float64         `json:"negative_slope"`
	Threshold       float64         `json:"threshold"`
	PoolSize        []int           `json:"pool_size"`
	Units           int             `json:"units"`
}

func (c *converter) layer(l *Layer) error {
	var cfg layerConfig
	if len(l.Config) > 0 {
		if err := json.Unmarshal(l.Config, &cfg); err != nil {
			return c.errorf(l, ErrFormat, "config: %v", err)
		}
	}
	if cfg.DataFormat != "" && cfg.DataFormat != "channels_last" {
		return c.errorf(l, ErrUnsupported, "data_format %q", cfg.DataFormat)
	}
	switch l.ClassName {
	case "InputLayer":
		return c.input(l, &cfg)
	case "ZeroPadding2D":
		return c.zeroPad(l, &cfg)
	case "Conv2D", "DepthwiseConv2D":
		return c.conv(l, &cfg)
	case "BatchNormalization":
		return c.batchNorm(l, &cfg)
	case "ReLU":
		if cfg.NegativeSlope != 0 || cfg.Threshold != 0 {
			return c.errorf(l, ErrUnsupported, "negative_slope %v threshold %v", cfg.NegativeSlope, cfg.Threshold)
		}
		x, s := c.in(l, 0)
		if cfg.MaxValue == nil {
			c.node("Relu", l.Name, []string{x}, l.Name)
		} else {
			lo := c.init("const/zero", nil, []float32{0})
			hi := c.init(fmt.Sprintf("const/%g", *cfg.MaxValue), nil, []float32{float32(*cfg.MaxValue)})
			c.node("Clip", l.Name, []string{x, lo, hi}, l.Name)
		}
		c.tensor[l.Name], c.shape[l.Name] = l.Name, s
		return nil
	case "Activation":
		x, s := c.in(l, 0)
		out, err := c.activation(l, cfg.Activation, x, l.Name, s)
		if err != nil {
			return err
		}
		c.tensor[l.Name], c.shape[l.Name] = out, s
		return nil
	case "Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise":
		c.tensor[l.Name], c.shape[l.Name] = c.in(l, 0)
		return nil
	case "Add":
		if len(l.Inbound) < 2 {
			return c.errorf(l, ErrFormat, "%d inputs, want 2 or more", len(l.Inbound))
		}
		acc, s := c.in(l, 0)
		for i := 1; i < len(l.Inbound); i++ {
			y, sy := c.in(l, i)
			if sy != s {
				return c.errorf(l, ErrFormat, "input shapes %v and %v differ", s, sy)
			}
			out := l.Name
			if i < len(l.Inbound)-1 {
				out = fmt.Sprintf("%s/%d", l.Name, i)
			}
			c.node("Add", out, []string{acc, y}, out)
			acc = out
		}
		c.tensor[l.Name], c.shape[l.Name] = acc, s
		return nil
	case "AveragePooling2D":
		return c.avgPool(l, &cfg)
	case "GlobalAveragePooling2D":
		x, s := c.in(l, 0)
		if s.rank != 4 {
			return c.errorf(l, ErrFormat, "input rank %d, want 4", s.rank)
		}
		c.node("GlobalAveragePool", l.Name+"/pool", []string{x}, l.Name+"/pool")
		c.node("Flatten", l.Name, []string{l.Name + "/pool"}, l.Name, intAttr("axis", 1))
		c.tensor[l.Name], c.shape[l.Name] = l.Name, shape{rank: 2, c: s.c}
		return nil
	case "Flatten":
		x, s := c.in(l, 0)
		switch {
		case s.rank == 2:
			c.tensor[l.Name], c.shape[l.Name] = x, s
			return nil
		case s.h == 1 && s.w == 1:
		case s.h == 0 || s.w == 0:
			return c.errorf(l, ErrUnsupported, "flatten of an input with unknown spatial size")
		default:
			// Keras flattens NHWC order.
			c.node("Transpose", l.Name+"/to_nhwc", []string{x}, l.Name+"/to_nhwc", ints("perm", 0, 2, 3, 1))
			x = l.Name + "/to_nhwc"
		}
		c.node("Flatten", l.Name, []string{x}, l.Name, intAttr("axis", 1))
		c.tensor[l.Name], c.shape[l.Name] = l.Name, shape{rank: 2, c: s.c * max(s.h, 1) * max(s.w, 1)}
		return nil
	case "Dense":
		return c.dense(l, &cfg)
	}
	return c.errorf(l, ErrUnsupported, "layer class")
}

func (c *converter) input(l *Layer, cfg *layerConfig) error {
	if l.Name != c.m.InputLayers[0] {
		return c.errorf(l, ErrUnsupported, "second input layer")
	}
	bs := cfg.BatchInputShape
	if len(bs) != 4 || bs[3] == nil || *bs[3] <= 0 {
		return c.errorf(l, ErrUnsupported, "batch_input_shape %s, want [N, H, W, C] with known C", fmtShape(bs))
	}
	s := shape{rank: 4, c: *bs[3]}
	if bs[1] != nil {
		s.h = *bs[1]
	}
	if bs[2] != nil {
		s.w = *bs[2]
	}
	c.graph.Input = append(c.graph.Input, valueInfo(InputName, dim("N", 0), dim("H", 0), dim("W", 0), dim("", s.c)))
	c.node("Transpose", l.Name, []string{InputName}, l.Name, ints("perm", 0, 3, 1, 2))
	c.tensor[l.Name], c.shape[l.Name] = l.Name, s
	return nil
}

func fmtShape(bs []*int) string {
	parts := make([]string, len(bs))
	for i, p := range bs {
		if p == nil {
			parts[i] = "null"
		} else {
			parts[i] = fmt.Sprint(*p)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// pair reads a Keras int-or-pair config value.
func pair(raw json.RawMessage, def int) ([2]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return [2]int{def, def}, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return [2]int{one, one}, nil
	}
	var two []int
	if err := json.Unmarshal(raw, &two); err != nil || len(two) != 2 {
		return [2]int{}, fmt.Errorf("want an int or a pair, got %s", raw)
	}
	return [2]int{two[0], two[1]}, nil
}

// zeroPadding reads ZeroPadding2D's padding as top, left, bottom, right.
func zeroPadding(raw json.RawMessage) ([4]int, error) {
	var nested [][]int
	if err := json.Unmarshal(raw, &nested); err == nil && len(nested) == 2 && len(nested[0]) == 2 && len(nested[1]) == 2 {
		p := [4]int{nested[0][0], nested[1][0], nested[0][1], nested[1][1]}
		for _, v := range p {
			if v < 0 {
				return p, fmt.Errorf("negative padding %s", raw)
			}
		}
		return p, nil
	}
	sym, err := pair(raw, 1)
	if err != nil || sym[0] < 0 || sym[1] < 0 {
		return [4]int{}, fmt.Errorf("bad padding %s", raw)
	}
	return [4]int{sym[0], sym[1], sym[0], sym[1]}, nil
}

func (c *converter) zeroPad(l *Layer, cfg *layerConfig) error {
	p, err := zeroPadding(cfg.Padding)
	if err != nil {
		return c.errorf(l, ErrFormat, "%v", err)
	}
	x, s := c.in(l, 0)
	if s.rank != 4 {
		return c.errorf(l, ErrFormat, "input rank %d, want 4", s.rank)
	}
	out := s
	if s.h > 0 {
		out.h = s.h + p[0] + p[2]
	}
	if s.w > 0 {
		out.w = s.w + p[1] + p[3]
	}
	if next := c.onlyConsumer(l.Name); next != nil && (next.ClassName == "Conv2D" || next.ClassName == "DepthwiseConv2D") {
		// The tensor stays the unpadded input; the convolution pads it.
		c.padFor[next.Name] = p
		c.tensor[l.Name], c.shape[l.Name] = x, s
		return nil
	}
	pads := c.initInt64(l.Name+".pads", []int64{0, 0, int64(p[0]), int64(p[1]), 0, 0, int64(p[2]), int64(p[3])})
	c.node("Pad", l.Name, []string{x, pads}, l.Name)
	c.tensor[l.Name], c.shape[l.Name] = l.Name, out
	return nil
}

func (c *converter) weight(l *Layer, suffix string, shape ...int) (*Tensor, error) {
	name := l.Name + "/" + suffix
	t := c.m.Weights[name]
	if t == nil {
		return nil, c.errorf(l, ErrFormat, "weight %q missing", name)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, c.errorf(l, ErrFormat, "weight %q has shape %v, want %v", name, t.Shape, shape)
	}
	return t, nil
}

func (c *converter) conv(l *Layer, cfg *layerConfig) error {
	x, s := c.in(l, 0)
	if s.rank != 4 {
		return c.errorf(l, ErrFormat, "input rank %d, want 4", s.rank)
	}
	if len(cfg.KernelSize) != 2 || cfg.KernelSize[0] <= 0 || cfg.KernelSize[1] <= 0 {
		return c.errorf(l, ErrFormat, "kernel_size %v", cfg.KernelSize)
	}
	kh, kw := cfg.KernelSize[0], cfg.KernelSize[1]
	strides := [2]int{1, 1}
	if len(cfg.Strides) == 2 {
		strides = [2]int{cfg.Strides[0], cfg.Strides[1]}
	}
	dil, err := pair(cfg.DilationRate, 1)
	if err != nil {
		return c.errorf(l, ErrFormat, "dilation_rate: %v", err)
	}
	if strides[0] <= 0 || strides[1] <= 0 || dil[0] <= 0 || dil[1] <= 0 {
		return c.errorf(l, ErrFormat, "strides %v dilation %v", strides, dil)
	}
	if cfg.Groups > 1 {
		return c.errorf(l, ErrUnsupported, "groups %d", cfg.Groups)
	}
	cin := s.c
	var w []float32 // ONNX layout [cout, cin/group, kh, kw]
	var cout, group int
	if l.ClassName == "Conv2D" {
		cout, group = cfg.Filters, 1
		k, err := c.weight(l, "kernel", kh, kw, cin, cout)
		if err != nil {
			return err
		}
		w = make([]float32, len(k.Data))
		for y := range kh {
			for xx := range kw {
				for i := range cin {
					for o := range cout {
						w[((o*cin+i)*kh+y)*kw+xx] = k.Data[((y*kw+xx)*cin+i)*cout+o]
					}
				}
			}
		}
	} else {
		mult := max(cfg.DepthMultiplier, 1)
		cout, group = cin*mult, cin
		k, err := c.weight(l, "depthwise_kernel", kh, kw, cin, mult)
		if err != nil {
			return err
		}
		w = make([]float32, len(k.Data))
		for y := range kh {
			for xx := range kw {
				for i := range cin {
					for m := range mult {
						w[((i*mult+m)*kh+y)*kw+xx] = k.Data[((y*kw+xx)*cin+i)*mult+m]
					}
				}
			}
		}
	}
	if cout <= 0 {
		return c.errorf(l, ErrFormat, "%d output channels", cout)
	}
	var bias []float32
	if cfg.UseBias == nil || *cfg.UseBias {
		b, err := c.weight(l, "bias", cout)
		if err != nil {
			return err
		}
		bias = slices.Clone(b.Data)
	}

	// Padding: folded ZeroPadding2D plus "same".
	pads := c.padFor[l.Name]
	var padding string
	if err := json.Unmarshal(cfg.Padding, &padding); err != nil && len(cfg.Padding) > 0 {
		return c.errorf(l, ErrFormat, "padding %s", cfg.Padding)
	}
	switch padding {
	case "valid", "":
	case "same":
		for d, k := range [2]int{kh, kw} {
			eff := (k-1)*dil[d] + 1
			total := max(eff-strides[d], 0)
			if in := [2]int{s.h, s.w}[d]; in > 0 && in%strides[d] != 0 {
				return c.errorf(l, ErrUnsupported, "\"same\" padding with stride %d on size %d", strides[d], in)
			}
			pads[d] += total / 2
			pads[d+2] += total - total/2
		}
	default:
		return c.errorf(l, ErrUnsupported, "padding %q", padding)
	}

	// Fold a BatchNormalization that only this convolution feeds.
	outName := l.Name
	activation := cfg.Activation
	if next := c.onlyConsumer(l.Name); next != nil && next.ClassName == "BatchNormalization" && (activation == "" || activation == "linear") {
		sc, sh, err := c.bnParams(next, cout)
		if err != nil {
			return err
		}
		per := len(w) / cout
		if bias == nil {
			bias = make([]float32, cout)
		}
		for o := range cout {
			for j := range per {
				w[o*per+j] = float32(float64(w[o*per+j]) * sc[o])
			}
			bias[o] = float32(float64(bias[o])*sc[o] + sh[o])
		}
		c.skip[next.Name] = true
		outName = next.Name
	}
	inputs := []string{x, c.init(outName+".weight", []int64{int64(cout), int64(cin / group), int64(kh), int64(kw)}, w)}
	if bias != nil {
		inputs = append(inputs, c.init(outName+".bias", []int64{int64(cout)}, bias))
	}
	convOut := outName
	if activation != "" && activation != "linear" {
		convOut = outName + "/conv"
	}
	attrs := []*onnxpb.AttributeProto{
		ints("dilations", dil[0], dil[1]),
		intAttr("group", group),
		ints("kernel_shape", kh, kw),
		ints("pads", pads[0], pads[1], pads[2], pads[3]),
		ints("strides", strides[0], strides[1]),
	}
	c.node("Conv", convOut, inputs, convOut, attrs...)
	out := shape{rank: 4, c: cout}
	if s.h > 0 {
		out.h = (s.h+pads[0]+pads[2]-((kh-1)*dil[0]+1))/strides[0] + 1
	}
	if s.w > 0 {
		out.w = (s.w+pads[1]+pads[3]-((kw-1)*dil[1]+1))/strides[1] + 1
	}
	final, err := c.activation(l, activation, convOut, outName, out)
	if err != nil {
		return err
	}
	c.tensor[l.Name], c.shape[l.Name] = final, out
	if outName != l.Name {
		c.tensor[outName], c.shape[outName] = final, out
	}
	return nil
}

// bnParams returns the per-channel scale and shift of an inference-mode
// BatchNormalization: y = x*scale + shift.
func (c *converter) bnParams(l *Layer, ch int) (scale, shift []float64, err error) {
	var cfg layerConfig
	if err := json.Unmarshal(l.Config, &cfg); err != nil {
		return nil, nil, c.errorf(l, ErrFormat, "config: %v", err)
	}
	if len(cfg.Axis) > 0 {
		var axis int
		if err := json.Unmarshal(cfg.Axis, &axis); err != nil || (axis != -1 && axis != 3) {
			return nil, nil, c.errorf(l, ErrUnsupported, "axis %s, want -1", cfg.Axis)
		}
	}
	eps := 1e-3
	if cfg.Epsilon != nil {
		eps = *cfg.Epsilon
	}
	mean, err := c.weight(l, "moving_mean", ch)
	if err != nil {
		return nil, nil, err
	}
	variance, err := c.weight(l, "moving_variance", ch)
	if err != nil {
		return nil, nil, err
	}
	var gamma, beta *Tensor
	if cfg.Scale == nil || *cfg.Scale {
		if gamma, err = c.weight(l, "gamma", ch); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Center == nil || *cfg.Center {
		if beta, err = c.weight(l, "beta", ch); err != nil {
			return nil, nil, err
		}
	}
	scale, shift = make([]float64, ch), make([]float64, ch)
	for i := range ch {
		g, b := 1.0, 0.0
		if gamma != nil {
			g = float64(gamma.Data[i])
		}
		if beta != nil {
			b = float64(beta.Data[i])
		}
		v := float64(variance.Data[i]) + eps
		if v <= 0 {
			return nil, nil, c.errorf(l, ErrFormat, "variance+epsilon %v <= 0 in channel %d", v, i)
		}
		scale[i] = g / math.Sqrt(v)
		shift[i] = b - float64(mean.Data[i])*scale[i]
	}
	return scale, shift, nil
}

func (c *converter) batchNorm(l *Layer, _ *layerConfig) error {
	x, s := c.in(l, 0)
	sc, sh, err := c.bnParams(l, s.c)
	if err != nil {
		return err
	}
	dims := []int64{int64(s.c)}
	if s.rank == 4 {
		dims = []int64{int64(s.c), 1, 1}
	}
	scale := make([]float32, s.c)
	shift := make([]float32, s.c)
	for i := range s.c {
		scale[i], shift[i] = float32(sc[i]), float32(sh[i])
	}
	c.node("Mul", l.Name+"/scale", []string{x, c.init(l.Name+".scale", dims, scale)}, l.Name+"/scale")
	c.node("Add", l.Name, []string{l.Name + "/scale", c.init(l.Name+".shift", dims, shift)}, l.Name)
	c.tensor[l.Name], c.shape[l.Name] = l.Name, s
	return nil
}

// activation appends the nodes of a Keras activation reading x; the result
// is named out unless the activation is linear (then x is returned).
func (c *converter) activation(l *Layer, act, x, out string, s shape) (string, error) {
	switch act {
	case "", "linear":
		if x != out {
			c.node("Identity", out, []string{x}, out)
		}
		return out, nil
	case "relu":
		c.node("Relu", out, []string{x}, out)
	case "relu6":
		lo := c.init("const/zero", nil, []float32{0})
		hi := c.init("const/6", nil, []float32{6})
		c.node("Clip", out, []string{x, lo, hi}, out)
	case "sigmoid":
		c.node("Sigmoid", out, []string{x}, out)
	case "tanh":
		c.node("Tanh", out, []string{x}, out)
	case "softmax":
		axis := -1
		if s.rank == 4 {
			axis = 1 // channels in NCHW
		}
		c.node("Softmax", out, []string{x}, out, intAttr("axis", axis))
	default:
		return "", c.errorf(l, ErrUnsupported, "activation %q", act)
	}
	return out, nil
}

func (c *converter) avgPool(l *Layer, cfg *layerConfig) error {
	x, s := c.in(l, 0)
	if s.rank != 4 {
		return c.errorf(l, ErrFormat, "input rank %d, want 4", s.rank)
	}
	if len(cfg.PoolSize) != 2 || cfg.PoolSize[0] <= 0 || cfg.PoolSize[1] <= 0 {
		return c.errorf(l, ErrFormat, "pool_size %v", cfg.PoolSize)
	}
	strides := cfg.PoolSize
	if len(cfg.Strides) == 2 {
		strides = cfg.Strides
	}
	var padding string
	_ = json.Unmarshal(cfg.Padding, &padding)
	if padding == "" {
		padding = "valid"
	}
	if padding == "valid" && s.h == cfg.PoolSize[0] && s.w == cfg.PoolSize[1] {
		// The pool covers the whole map at the declared size: make it
		// global so that other input sizes give the same features.
		c.node("GlobalAveragePool", l.Name, []string{x}, l.Name)
		c.tensor[l.Name], c.shape[l.Name] = l.Name, shape{rank: 4, c: s.c, h: 1, w: 1}
		return nil
	}
	if padding != "valid" {
		return c.errorf(l, ErrUnsupported, "padding %q", padding)
	}
	c.node("AveragePool", l.Name, []string{x}, l.Name,
		ints("kernel_shape", cfg.PoolSize...), ints("strides", strides...))
	out := shape{rank: 4, c: s.c}
	if s.h > 0 {
		out.h = (s.h-cfg.PoolSize[0])/strides[0] + 1
	}
	if s.w > 0 {
		out.w = (s.w-cfg.PoolSize[1])/strides[1] + 1
	}
	c.tensor[l.Name], c.shape[l.Name] = l.Name, out
	return nil
}

func (c *converter) dense(l *Layer, cfg *layerConfig) error {
	x, s := c.in(l, 0)
	if s.rank != 2 {
		return c.errorf(l, ErrUnsupported, "input rank %d, want 2", s.rank)
	}
	if cfg.Units <= 0 {
		return c.errorf(l, ErrFormat, "units %d", cfg.Units)
	}
	k, err := c.weight(l, "kernel", s.c, cfg.Units)
	if err != nil {
		return err
	}
	c.node("MatMul", l.Name+"/matmul", []string{x, c.init(l.Name+".weight", []int64{int64(s.c), int64(cfg.Units)}, k.Data)}, l.Name+"/matmul")
	y := l.Name + "/matmul"
	if cfg.UseBias == nil || *cfg.UseBias {
		b, err := c.weight(l, "bias", cfg.Units)
		if err != nil {
			return err
		}
		y = l.Name + "/linear"
		c.node("Add", y, []string{l.Name + "/matmul", c.init(l.Name+".bias", []int64{int64(cfg.Units)}, b.Data)}, y)
	}
	out := shape{rank: 2, c: cfg.Units}
	final, err := c.activation(l, cfg.Activation, y, l.Name, out)
	if err != nil {
		return err
	}
	c.tensor[l.Name], c.shape[l.Name] = final, out
	return nil
}

// pool returns an [N, C] tensor of layer's output: global-average-pooled
// when 4-D. name is the preferred tensor name for a new pooled tensor.
func (c *converter) pool(layer, name string) (string, shape) {
	s := c.shape[layer]
	if s.rank == 2 {
		return c.tensor[layer], s
	}
	if t, ok := c.pooled[layer]; ok {
		return t, shape{rank: 2, c: s.c}
	}
	gap := "pool/" + layer
	c.node("GlobalAveragePool", gap, []string{c.tensor[layer]}, gap)
	c.node("Flatten", name, []string{gap}, name, intAttr("axis", 1))
	c.pooled[layer] = name
	return name, shape{rank: 2, c: s.c}
}

func (c *converter) output(spec OutputSpec) (OutputInfo, error) {
	info := OutputInfo{Name: spec.Name, Layers: slices.Clone(spec.Layers)}
	var parts []string
	for _, l := range spec.Layers {
		name := spec.Name
		if len(spec.Layers) > 1 {
			name = "pool/" + l + "/flat"
		}
		t, s := c.pool(l, name)
		parts = append(parts, t)
		info.Dim += s.c
	}
	switch {
	case len(parts) > 1:
		c.node("Concat", spec.Name, parts, spec.Name, intAttr("axis", 1))
	case parts[0] != spec.Name:
		c.node("Identity", spec.Name, parts, spec.Name)
	}
	c.graph.Output = append(c.graph.Output, valueInfo(spec.Name, dim("N", 0), dim("", info.Dim)))
	return info, nil
}
