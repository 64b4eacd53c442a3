// Command makeinputs writes ref_inputs.bin: the real photos named on the
// command line (default: astronaut.png chelsea.png coffee.png rocket.jpg
// camera.png from testdata/photos), each resized to SIZE x SIZE with
// github.com/disintegration/imaging's Lanczos filter (aspect ratio not kept)
// and stored as uint8 RGB pixels, NHWC, one image after the other.
// Transparency is ignored (the colour channels are written as they are).
//
// Usage, from models/tfjs:
//
//	go run ./testdata/makeinputs -photos ../../testdata/photos -out testdata/ref_inputs.bin
package main

import (
	"flag"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/disintegration/imaging"
)

func main() {
	photos := flag.String("photos", "../../testdata/photos", "folder of the photos")
	out := flag.String("out", "testdata/ref_inputs.bin", "output file")
	size := flag.Int("size", 224, "side of the square output images")
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = []string{"astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png"}
	}
	var buf []byte
	for _, n := range names {
		img, err := imaging.Open(filepath.Join(*photos, n))
		if err != nil {
			fmt.Fprintln(os.Stderr, "makeinputs:", err)
			os.Exit(1)
		}
		buf = appendRGB(buf, imaging.Resize(img, *size, *size, imaging.Lanczos))
	}
	if err := os.WriteFile(*out, buf, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "makeinputs:", err)
		os.Exit(1)
	}
	fmt.Printf("makeinputs: wrote %d images %dx%dx3 (%d bytes) to %s\n", len(names), *size, *size, len(buf), *out)
}

func appendRGB(buf []byte, img *image.NRGBA) []byte {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			i := img.PixOffset(x, y)
			buf = append(buf, img.Pix[i], img.Pix[i+1], img.Pix[i+2])
		}
	}
	return buf
}
