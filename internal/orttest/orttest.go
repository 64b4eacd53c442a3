package orttest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// Library returns the path of the ONNX Runtime library the tests use.
func Library() string {
	if lib := os.Getenv("ASVP_ORT_LIB"); lib != "" {
		return lib
	}
	_, file, _, _ := runtime.Caller(0) // internal/orttest/orttest.go in the module
	return filepath.Join(filepath.Dir(file), "..", "..", "third_party", "onnxruntime", "libonnxruntime.so.1")
}

// Init initialises the ONNX Runtime environment (one per process) and
// returns whether it is ready and the function that releases it. When the
// library is missing it reports not ready, so the tests that need it can
// fail saying `run make setup`.
func Init() (ready bool, release func() error) {
	lib := Library()
	if _, err := os.Stat(lib); err != nil {
		return false, func() error { return nil }
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		fmt.Fprintln(os.Stderr, "orttest: onnxruntime:", err)
		return false, func() error { return nil }
	}
	return true, func() error {
		if err := ort.DestroyEnvironment(); err != nil {
			return fmt.Errorf("orttest: destroy onnxruntime environment: %w", err)
		}
		return nil
	}
}

// ready records, for the whole test binary (ONNX Runtime has one
// environment per process), whether Main set the runtime up.
var ready atomic.Bool

// Main is a test binary's TestMain: it sets up ONNX Runtime (Init), runs
// the tests, releases the runtime and exits with the tests' status (1 when
// releasing fails). Tests that need the runtime call Require first.
func Main(m *testing.M) {
	ok, release := Init()
	ready.Store(ok)
	code := m.Run()
	if err := release(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// Require fails tb, saying how to install it, when Main could not set up
// the ONNX Runtime library.
func Require(tb testing.TB) {
	tb.Helper()
	if !ready.Load() {
		tb.Fatal("onnxruntime library not found or not loadable: run `make setup`, or set ASVP_ORT_LIB")
	}
}
