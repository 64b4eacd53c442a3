package report

import (
	"image"
	"image/color"
)

// coloured counts pixels in r whose channels differ by more than 60 of
// 255: lines, bands and bars of the plots, not black or grey text.
func coloured(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.A < 128 {
				continue
			}
			hi := max(c.R, c.G, c.B)
			lo := min(c.R, c.G, c.B)
			if int(hi)-int(lo) > 60 {
				n++
			}
		}
	}
	return n
}

// nonWhite counts opaque pixels in r that are not (near) white.
func nonWhite(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.A >= 128 && (c.R < 240 || c.G < 240 || c.B < 240) {
				n++
			}
		}
	}
	return n
}
