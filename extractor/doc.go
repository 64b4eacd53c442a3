// Package extractor runs a pre-trained ONNX backbone over a dataset and hands
// the resulting feature vectors to a Sink.
//
// The types, in the order a program meets them:
//   - Runtime: the ONNX Runtime library, loaded once per process. ONNX
//     Runtime keeps one environment per process, so a program makes one
//     Runtime and closes it last.
//   - Session: one loaded model with the outputs it was asked for; Run maps a
//     batch of preprocessed images to one [n, dim] matrix per output.
//   - Extractor: the pipeline. Parallel workers decode, resize and normalise
//     images (Preprocess) for batch k+1 while the runtime runs batch k; a
//     writer hands finished batches to the Sink in dataset order, one Put per
//     batch, so a sink that commits each Put atomically (the cache does) loses
//     at most the batch in flight when the process dies.
//
// Ownership: Go owns every input buffer. A tensor that wraps one is
// destroyed only after the Run that reads it has returned, also when the
// context is cancelled (cancellation asks the runtime to terminate the run,
// then waits for it). Output tensors allocated by the runtime are copied into
// Go memory and destroyed at once.
//
// A sample's features do not depend on its batch-mates, the batch size or the
// number of workers beyond floating-point tolerance: each image is
// preprocessed alone and the backbones asvp ships have no cross-sample
// operations.
package extractor
