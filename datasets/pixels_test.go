package datasets

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrayPixels reads Fashion-MNIST pixels and checks them against each
// image's own Pix; then the refusals: too many samples, colour images,
// mixed sizes.
func TestGrayPixels(t *testing.T) {
	ds, err := Open("fashion-mnist:test", Options{})
	if err != nil {
		t.Fatalf("Fashion-MNIST is needed (make setup): %v", err)
	}
	px, labels, err := GrayPixels(ds, 5)
	if err != nil || len(px) != 5*784 || len(labels) != 5 {
		t.Fatalf("GrayPixels: %d bytes, %d labels, %v", len(px), len(labels), err)
	}
	for i := range 5 {
		img, _ := ds.Image(i)
		if !bytes.Equal(px[i*784:(i+1)*784], img.(*image.Gray).Pix) || labels[i] != ds.Sample(i).Label {
			t.Fatalf("sample %d differs from its image or label", i)
		}
	}
	if _, _, err := GrayPixels(ds, ds.Len()+1); err == nil {
		t.Error("more samples than the dataset has: no error")
	}

	dir := t.TempDir()
	write := func(name string, img image.Image) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), encodePNG(t, img), 0o644)
	}
	write("mixed/a.png", image.NewGray(image.Rect(0, 0, 4, 4)))
	write("mixed/b.png", image.NewGray(image.Rect(0, 0, 5, 4)))
	write("colour/a.png", image.NewNRGBA(image.Rect(0, 0, 4, 4)))
	for sub, want := range map[string]string{"mixed": "the first is", "colour": "not an 8-bit gray"} {
		fds, err := Open("folder:"+filepath.Join(dir, sub), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := GrayPixels(fds, fds.Len()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", sub, err, want)
		}
	}
}
