// Package models describes the backbones asvp runs and, in its subpackages, the
// networks it trains.
//
// A backbone is an ONNX file plus a Card: the preprocessing it expects (input
// size, layout, channel order, scale, mean and standard deviation), the
// outputs it offers with their dimensions, and where its weights come from.
// A Registry maps short names to cards and files in a models directory; any
// other ONNX file works too when the caller supplies its card.
//
// Subpackages:
//   - models/onnxpb: Go types for the ONNX protobuf schema.
//   - models/tfjs: reads TF.js layers models and converts them to ONNX.
//   - models/nn: the trainable Go networks (adapter and head) and their
//     recipes (LP, FT, LP-FT).
//
// Package models imports no other package of this project.
package models
