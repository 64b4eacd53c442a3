// Package orttest sets up the real ONNX Runtime for a package's tests, the
// same way for every package: the library named by $ASVP_ORT_LIB, else the
// one `make setup` installs under the module root.
package orttest
