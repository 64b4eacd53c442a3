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
// straight into float32; everything else is resized by imaging to 8 bits
// first. The two agree within one 8-bit step.
func Preprocess(card models.Card, img image.Image, dst []float32) {
	newPreprocessor(card).run(img, dst)
}

// preprocessor is Preprocess for one card, with scratch memory reused from
// one image to the next. It is not safe for concurrent use: the extractor
// gives each decoding worker its own.
type preprocessor struct {
	card         models.Card
	scale, shift [3]float32 // v*scale[c] + shift[c] == (v*Scale - Mean[c]) / Std[c]
	order        [3]int     // output channel c takes source channel order[c]
	lin          linearScratch
}

func newPreprocessor(card models.Card) *preprocessor {
	p := &preprocessor{card: card, order: [3]int{0, 1, 2}}
	if card.ChannelOrder == "BGR" {
		p.order = [3]int{2, 1, 0}
	}
	for c := range 3 {
		p.scale[c] = card.Scale / card.Std[c]
		p.shift[c] = -card.Mean[c] / card.Std[c]
	}
	return p
}

func (p *preprocessor) run(img image.Image, dst []float32) {
	card := p.card
	h, w := card.Height, card.Width
	if len(dst) != h*w*3 {
		panic(fmt.Sprintf("extractor: Preprocess dst has %d values, want %d", len(dst), h*w*3))
	}
	if p.fastLinear(img, dst) {
		return
	}
	px := resizeNRGBA(card, img)
	plane := h * w
	nchw := card.Layout == "NCHW"
	for y := range h {
		row := px.Pix[y*px.Stride : y*px.Stride+w*4]
		for x := range w {
			q := row[x*4 : x*4+3]
			for c := range 3 {
				v := float32(q[p.order[c]])*p.scale[c] + p.shift[c]
				if nchw {
					dst[c*plane+y*w+x] = v
				} else {
					dst[(y*w+x)*3+c] = v
				}
			}
		}
	}
}
