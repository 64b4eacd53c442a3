// Package fmnisttest reads real Fashion-MNIST images for the tests of other
// packages, one way for all of them.
package fmnisttest
