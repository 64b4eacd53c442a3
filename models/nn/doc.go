// Package nn is a small trainable network that sits on top of frozen
// backbone features: layers with forward and backward passes, a residual
// MLP adapter, a linear head, and the LP / FT / LP-FT training recipes.
//
// # Types
//
//   - Matrix: a dense row-major float64 batch, one row per sample.
//   - Layer: Forward(x, train) / Backward(grad) / Params(). Dense,
//     BatchNorm1d, ReLU, GELU, Residual and Sequential implement it.
//   - Param: one trainable tensor with its gradient and optimizer state.
//   - Net: feature standardisation, an Adapter (residual MLP block whose
//     output equals its input at initialisation) and a linear Head.
//   - Recipe: how to train a Net (method "lp", "ft" or "lpft", SGD with
//     Nesterov momentum, weight decay, cosine or step schedule).
//
// Inputs and outputs at the package boundary are plain float32 slices,
// row-major, with explicit rows and columns; inside, everything is float64
// so that gradients can be checked against finite differences and training
// is not hurt by float32 rounding.
//
// # Adding more layers later
//
// A Layer sees a batch as a Matrix with one row per sample and the sample's
// values flattened in Cols. A convolution block taken from the backbone's
// ONNX graph (for example its last stage) fits by storing its own shape
// (channels, height, width) and reading each row as a C×H×W tensor in NCHW
// order: its Forward returns the flattened output, Backward returns the
// gradient with respect to the flattened input, and Params exposes its
// kernels and biases. Such a layer is then placed in front of the adapter
// inside a Sequential, and the optimizer, recipes and Save format (which
// walk Params in order) need no change beyond recording the layer kind.
//
// # Determinism
//
// Every random choice (initial weights, batch order) comes from a PCG
// generator seeded by Recipe.Seed. Matrix products use the package's own
// packed GEMM (AVX2/FMA assembly micro-kernel on amd64, Go elsewhere), which
// sums every output element with fused multiply-adds in order of the inner
// index, whatever the tiling or the goroutine that computes it; so the same
// seed gives the same weights bit for bit at any GOMAXPROCS, and a row's
// Predict or Embed output does not depend on the other rows.
package nn
