// Package tfjs reads TensorFlow.js layers models (Keras topology plus
// weight shards) and converts them to ONNX.
//
// Two on-disk forms are read by ReadDir:
//   - the standard form: model.json holding {modelTopology, weightsManifest}
//     and binary shard files named by the manifest's paths;
//   - the bundled form used by npm nsfwjs: model.min.js, a browserify/UMD
//     bundle exporting the same object as a JavaScript literal, and one
//     PATH.min.js bundle per shard exporting the shard bytes as base64.
//
// Quantized weights (uint8, uint16, float16) are dequantized to float32 as
// TF.js does: value = min + scale*q. A Model holds the layers in topology
// order and every weight by name; (*Model).ToONNX writes an ONNX graph.
package tfjs
