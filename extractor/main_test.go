package extractor

import (
	"fmt"
	"os"
	"testing"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/models"
)

// testRT is the one ONNX Runtime of this test binary (the runtime allows one
// environment per process).
var testRT *Runtime

func TestMain(m *testing.M) {
	lib, err := FindLibrary("")
	if err != nil {
		fmt.Fprintf(os.Stderr, "extractor tests need the ONNX Runtime library: %v\n", err)
		os.Exit(1)
	}
	if testRT, err = NewRuntime(lib); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := testRT.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// backbone returns the default card and the path of its installed ONNX file;
// the test fails when set-up has not run.
func backbone(t testing.TB) (models.Card, string) {
	t.Helper()
	dir, _, ok := FindUnderRoots("third_party/models")
	if !ok {
		t.Fatal("third_party/models not found: run `make setup`")
	}
	card, path, err := models.NewRegistry(dir).Lookup(models.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := card.VerifyFile(path); err != nil {
		t.Fatalf("%v: run `make setup`", err)
	}
	return card, path
}

func openFashionTest() (datasets.Dataset, error) {
	return datasets.Open("fashion-mnist:test", datasets.Options{})
}
