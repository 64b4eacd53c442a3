// Package onnxgraph reads an ONNX model and cuts out its tail: the part of
// the graph above a cut tensor that a set of outputs needs, with its weights
// as float32, ready for a Go network (package models/tail) to run and train.
//
// # Types
//
//   - Model: a parsed ONNX model: its nodes in topological order, its
//     initializers, and the constant subexpressions folded on demand
//     (DequantizeLinear of an initializer becomes a float32 weight).
//   - Tail: what Model.Cut returns: the cut tensor (the tail's input),
//     the frozen inputs (tensors the outputs need that do not depend on the
//     cut, e.g. a pooled vector of a lower block), the nodes above the cut
//     in topological order with their attributes decoded, and the weights.
//   - Node: one node of a tail. Its Inputs name run-time tensors (the cut,
//     a frozen input, another node's output) or weights; constant inputs that
//     are really attributes (Clip's bounds, Reshape's shape, axes) are
//     decoded into fields and dropped from Inputs.
//   - Tensor: a constant float32 tensor.
//
// AddOutputs returns a model's bytes with more graph outputs (the cut
// activation and the frozen inputs of a Tail), so that ONNX Runtime returns
// them from the same pass that computes the features. Model.Shape infers a
// tensor's shape for given input sizes (block_12_add of the default
// backbone at 96×96 is [N, 96, 6, 6]), which a card needs to declare those
// outputs' sizes.
//
// # Supported operators above the cut
//
// Conv (2-D, any kernel, strides, explicit pads including asymmetric ones,
// groups including depthwise, dilation 1), BatchNormalization (inference
// form), Relu, Clip, Add, GlobalAveragePool, ReduceMean (over the spatial
// axes), Flatten (axis 1), Concat, Gemm (transA 0), MatMul (2-D, constant
// right-hand side), Reshape (to [N, D]), Squeeze and Identity. Any other
// operator above the cut is an error that names it and its node. Below the
// cut anything goes: those nodes are not read.
package onnxgraph
