package extractor

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/asvp-dev/asvp/models"
)

// TestFastLinearMatchesImaging checks the float32 bilinear upscale against
// imaging.Resize with the linear filter, which rounds to 8 bits: they agree
// within one 8-bit step, in every layout and channel order.
func TestFastLinearMatchesImaging(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gray := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(rng.IntN(256))
	}
	col := image.NewNRGBA(image.Rect(0, 0, 20, 13))
	for i := range col.Pix {
		col.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			col.Pix[i] = 255 // opaque: translucent images take the imaging path (checked below)
		}
	}
	sub := col.SubImage(image.Rect(3, 2, 17, 11)).(*image.NRGBA) // non-zero origin, stride > width
	for _, tc := range []struct {
		name   string
		img    image.Image
		h, w   int
		layout string
		order  string
	}{
		{"gray 28 to 96 NHWC", gray, 96, 96, "NHWC", "RGB"},
		{"gray 28 to 64x40 NCHW", gray, 64, 40, "NCHW", "BGR"},
		{"nrgba 20x13 to 96 NHWC BGR", col, 96, 96, "NHWC", "BGR"},
		{"nrgba sub-image NCHW", sub, 50, 33, "NCHW", "RGB"},
		{"equal size", gray, 28, 28, "NHWC", "RGB"},
	} {
		card := models.Card{Height: tc.h, Width: tc.w, Layout: tc.layout, ChannelOrder: tc.order, Scale: 1.0 / 255,
			Mean: [3]float32{0.1, 0.2, 0.3}, Std: [3]float32{0.5, 0.25, 1}, Resize: "stretch", Resample: "linear"}
		fast := make([]float32, tc.h*tc.w*3)
		Preprocess(card, tc.img, fast)
		slow := make([]float32, len(fast))
		lanczos := card
		lanczos.Resample = "lanczos" // not the fast path: imaging, then the same normalisation
		px := resizeNRGBA(card, tc.img)
		for y := range tc.h {
			for x := range tc.w {
				for c := range 3 {
					src := c
					if tc.order == "BGR" {
						src = 2 - c
					}
					v := (float32(px.Pix[y*px.Stride+x*4+src])/255 - card.Mean[c]) / card.Std[c]
					if tc.layout == "NCHW" {
						slow[c*tc.h*tc.w+y*tc.w+x] = v
					} else {
						slow[(y*tc.w+x)*3+c] = v
					}
				}
			}
		}
		worst := 0.0
		for i := range fast {
			worst = max(worst, math.Abs(float64(fast[i]-slow[i])))
		}
		// One 8-bit step, divided by the smallest std.
		if worst > 1.0/255/0.25+1e-5 {
			t.Errorf("%s: fast path differs from imaging by %g", tc.name, worst)
		}
		if !newPreprocessor(card).fastLinear(tc.img, make([]float32, len(fast))) {
			t.Errorf("%s: fast path not taken", tc.name)
		}
		if newPreprocessor(lanczos).fastLinear(tc.img, make([]float32, len(fast))) {
			t.Errorf("%s: fast path taken for lanczos", tc.name)
		}
	}
	// Translucent images keep imaging's alpha-weighted filter.
	col.Pix[3] = 10
	card0 := models.Card{Height: 96, Width: 96, Resize: "stretch", Resample: "linear", Layout: "NHWC"}
	if newPreprocessor(card0).fastLinear(col, make([]float32, 96*96*3)) {
		t.Error("fast path taken for a translucent image")
	}
	// One preprocessor reused across images of other sizes and kinds, as an
	// extraction worker is, gives what a fresh one gives.
	col.Pix[3] = 255
	cardR := models.Card{Height: 64, Width: 48, Resize: "stretch", Resample: "linear", Layout: "NHWC",
		ChannelOrder: "BGR", Scale: 1.0 / 255, Std: [3]float32{1, 1, 1}}
	small := image.NewGray(image.Rect(0, 0, 7, 30))
	for i := range small.Pix {
		small.Pix[i] = uint8(rng.IntN(256))
	}
	pp := newPreprocessor(cardR)
	for i, img := range []image.Image{gray, col, small, sub, gray, small} {
		got, want := make([]float32, 64*48*3), make([]float32, 64*48*3)
		pp.run(img, got)
		Preprocess(cardR, img, want)
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("reused preprocessor, image %d: value %d = %v, fresh %v", i, k, got[k], want[k])
			}
		}
	}
	// Downscaling keeps imaging's area-aware filter.
	card := models.Card{Height: 10, Width: 10, Resize: "stretch", Resample: "linear", Layout: "NHWC"}
	if newPreprocessor(card).fastLinear(gray, make([]float32, 300)) {
		t.Error("fast path taken for a downscale")
	}
}

func BenchmarkPreprocessFashionMNIST(b *testing.B) {
	card, _ := backbone(b)
	ds, err := openFashionTest()
	if err != nil {
		b.Fatal(err)
	}
	img, _ := ds.Image(0)
	dst := make([]float32, card.Height*card.Width*3)
	pp := newPreprocessor(card) // as an extraction worker holds one
	for b.Loop() {
		pp.run(img, dst)
	}
}
