// Package features holds the feature matrix that selection, the simulator
// and the cache exchange: Matrix, one row of float32 features per sample,
// with the samples' IDs.
//
// It is a leaf: the store (package cache) reads into it and the selection
// code (package selector) computes on it, so selecting never links the
// store. A Matrix owns its memory; Row aliases it, General views it as a
// gonum blas32 matrix without copying, and Dense copies it into a float64
// gonum mat.Dense.
package features
