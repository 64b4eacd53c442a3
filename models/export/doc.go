// Package export writes a deployable ONNX model: the backbone joined with
// what asvp trained on top of it.
//
// Build joins a backbone and a trained nn.Net (the adapter network) into one
// model. The exported graph takes the backbone's input unchanged and returns
// two outputs: "features", the net's aligned features (nn.Net.Embed of the
// chosen backbone output), and "probs", the net's class probabilities
// (nn.Net.Predict). Only the backbone nodes that the chosen output needs are
// kept, so the other outputs of a multi-output backbone cost nothing. The
// added nodes are plain MatMul, Add, Sub, Div, Mul, Relu and Softmax, which
// every ONNX runtime supports at any opset.
//
// BuildTuned writes a whole fine-tuned network (package models/finetune) as
// one model: the backbone below the tail's cut unchanged, the tail's nodes in
// place but reading the fine-tuned weights (with the BatchNorms that
// fine-tuning inserted folded into their convolutions), and the head. Its
// "features" are what finetune.Tuned.Features returns, its "probs" what
// finetune.Tuned.Predict returns. The added nodes are Flatten, Identity,
// Sub, Div, Gemm and Softmax. It refuses a backbone whose tail is not the
// one the fine-tune was cut from (ErrMismatch).
package export
