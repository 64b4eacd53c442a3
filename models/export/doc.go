// Package export joins a backbone ONNX model and a trained nn.Net into one
// deployable ONNX model.
//
// The exported graph takes the backbone's input unchanged and returns two
// outputs: "features", the net's aligned features (nn.Net.Embed of the
// chosen backbone output), and "probs", the net's class probabilities
// (nn.Net.Predict). Only the backbone nodes that the chosen output needs are
// kept, so the other outputs of a multi-output backbone cost nothing. The
// added nodes are plain MatMul, Add, Sub, Div, Mul, Relu and Softmax, which
// every ONNX runtime supports at any opset.
package export
