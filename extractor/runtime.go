package extractor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable that names the ONNX Runtime shared library.
const LibraryEnv = "ASVP_ORT_LIB"

// HomeEnv is the environment variable that names the asvp installation root,
// the folder that holds third_party/ after `make setup`.
const HomeEnv = "ASVP_HOME"

// LibraryRelPath is where set-up puts the ONNX Runtime library, relative to
// the installation root.
const LibraryRelPath = "third_party/onnxruntime/libonnxruntime.so.1"

// ErrNoLibrary means the ONNX Runtime shared library was not found.
var ErrNoLibrary = errors.New("onnx runtime library not found")

// Roots lists the folders that may hold asvp's third_party/ folder, in the
// order they are searched: $ASVP_HOME, the parent of the executable's folder
// (bin/asvp in a checkout), then the working directory and its parents.
func Roots() []string {
	var roots []string
	if h := os.Getenv(HomeEnv); h != "" {
		roots = append(roots, h)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			roots = append(roots, filepath.Dir(filepath.Dir(exe)))
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			roots = append(roots, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return roots
}

// FindUnderRoots returns the first existing path rel under Roots, and the
// places it looked.
func FindUnderRoots(rel string) (string, []string, bool) {
	var tried []string
	for _, r := range Roots() {
		p := filepath.Join(r, rel)
		tried = append(tried, p)
		if _, err := os.Stat(p); err == nil {
			return p, tried, true
		}
	}
	return "", tried, false
}

// FindLibrary returns the path of the ONNX Runtime library: file when
// given, else $ASVP_ORT_LIB, else LibraryRelPath under the first of Roots
// that has it. The error says where it looked and how to install it.
func FindLibrary(file string) (string, error) {
	exists := func(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }
	if file != "" {
		if exists(file) {
			return file, nil
		}
		return "", fmt.Errorf("extractor: ONNX Runtime library %s: no such file: %w", file, ErrNoLibrary)
	}
	if env := os.Getenv(LibraryEnv); env != "" {
		if exists(env) {
			return env, nil
		}
		return "", fmt.Errorf("extractor: $%s=%s: no such file: %w", LibraryEnv, env, ErrNoLibrary)
	}
	p, tried, ok := FindUnderRoots(LibraryRelPath)
	if ok {
		return p, nil
	}
	return "", fmt.Errorf("extractor: %w (looked in %s); install it with `make setup` in the asvp checkout "+
		"(it unpacks libonnxruntime.so.1 from npm onnxruntime-node@1.24.3), or name the library file, or set $%s",
		ErrNoLibrary, strings.Join(tried, ", "), LibraryEnv)
}

// Runtime is the loaded ONNX Runtime library. ONNX Runtime has one
// environment per process: make one Runtime, share it, Close it last.
type Runtime struct {
	lib     string
	version string
}

// NewRuntime loads the ONNX Runtime shared library at lib and initialises its
// environment.
func NewRuntime(lib string) (*Runtime, error) {
	if _, err := os.Stat(lib); err != nil {
		return nil, fmt.Errorf("extractor: onnx runtime library: %w", err)
	}
	if ort.IsInitialized() {
		return nil, errors.New("extractor: onnx runtime already initialised in this process; share one Runtime")
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return nil, fmt.Errorf("extractor: load onnx runtime %s: %w", lib, err)
	}
	return &Runtime{lib: lib, version: ort.GetVersion()}, nil
}

// Library returns the path of the loaded library.
func (r *Runtime) Library() string { return r.lib }

// Version returns the ONNX Runtime version string, e.g. "1.24.3".
func (r *Runtime) Version() string { return r.version }

// Close releases the ONNX Runtime environment. Every Session must be closed first.
func (r *Runtime) Close() error {
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("extractor: close onnx runtime: %w", err)
	}
	return nil
}
