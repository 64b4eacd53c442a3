package orttest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
