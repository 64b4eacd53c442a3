// Package tail runs and trains, in Go, the top of a backbone cut out of its
// ONNX graph by package onnxgraph: the convolutional blocks above a cut,
// from activations that ONNX Runtime computed once.
//
// # Types
//
//   - Net: a float32 network built from an onnxgraph.Tail and the shapes
//     of its inputs. Forward maps a batch of cut activations (plus the
//     tail's frozen inputs) to the requested outputs; Backward takes the
//     loss gradient with respect to those outputs and accumulates exact
//     gradients into the parameters. InsertBatchNorm puts a BatchNorm after
//     every convolution, calibrated so that the network is unchanged in
//     eval mode (see its doc for why training needs it).
//   - Param: one trainable tensor (a convolution kernel, a bias, a
//     BatchNorm scale or shift) with its gradient; Buffer: a BatchNorm
//     running statistic, saved with the weights but not trained.
//
// # Layout
//
// At the package boundary a batch is row-major with one row per sample:
// an activation of C×H×W per sample is NCHW ([N, C, H, W]), a vector is
// [N, D]; outputs come back the same way. Inside, every tensor is stored
// channel-major with the samples innermost, [C, H, W, N] (or [D, N]), so
// that a 1×1 convolution over the whole batch is one matrix product
// W[Cout, Cin] · X[Cin, H·W·N], BatchNorm reads contiguous channels,
// Flatten is a copy, Concat along the channels is a copy of whole blocks,
// and every step of a depthwise convolution or a pooling is a vector
// operation over the batch.
//
// # Computation
//
// The heavy products (1×1 convolutions, im2col convolutions, Gemm and
// MatMul, and their gradients) go through nn.MatMul32; depthwise
// convolutions are direct loops over the kernel taps that fall inside the
// input (no padded copies), a block of channels per task; element-wise
// and reduction loops have AVX2 kernels for float32 where the CPU has
// them, which compute the same bits as the Go loops (vec.go). A BatchNorm
// followed by a Clip runs as one operator. Every output element, and
// every parameter gradient, is one sum in a fixed order, so the result
// does not depend on GOMAXPROCS or on the number of workers: the same
// inputs and weights give the same bits. Inside, the code is generic over
// float32 and float64; the float64 instance exists so the tests can check
// gradients against finite differences without float32 noise.
//
// A Net is not safe for concurrent use: it keeps the activations of the
// last training Forward for Backward.
package tail
