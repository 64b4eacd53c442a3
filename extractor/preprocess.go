package extractor

import (
	"fmt"
	"image"

	"github.com/asvp-dev/asvp/models"
)

// Preprocess resizes img as the card says and writes the normalised tensor of
// one image (Height*Width*3 values, in the card's layout without the batch
// axis) into dst. It panics when dst has the wrong length, a programmer error.
//
// Upscaling an 8-bit gray or NRGBA image with the linear filter interpolates
// straight into float32 (fastLinear); everything else is resized by imaging
// to 8 bits first. The two agree within one 8-bit step.
func Preprocess(card models.Card, img image.Image, dst []float32) {
	h, w := card.Height, card.Width
	if len(dst) != h*w*3 {
		panic(fmt.Sprintf("extractor: Preprocess dst has %d values, want %d", len(dst), h*w*3))
	}
	order := [3]int{0, 1, 2}
	if card.ChannelOrder == "BGR" {
		order = [3]int{2, 1, 0}
	}
	var scale, shift [3]float32 // v*scale[c] + shift[c] == (v*Scale - Mean[c]) / Std[c]
	for c := range 3 {
		scale[c] = card.Scale / card.Std[c]
		shift[c] = -card.Mean[c] / card.Std[c]
	}
	if fastLinear(card, img, dst, scale, shift, order) {
		return
	}
	px := resizeNRGBA(card, img)
	plane := h * w
	nchw := card.Layout == "NCHW"
	for y := range h {
		row := px.Pix[y*px.Stride : y*px.Stride+w*4]
		for x := range w {
			p := row[x*4 : x*4+3]
			for c := range 3 {
				v := float32(p[order[c]])*scale[c] + shift[c]
				if nchw {
					dst[c*plane+y*w+x] = v
				} else {
					dst[(y*w+x)*3+c] = v
				}
			}
		}
	}
}
