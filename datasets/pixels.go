package datasets

import (
	"fmt"
	"image"
)

// GrayPixels returns the pixels of the first n samples of ds, which must be
// 8-bit gray images of one size (Fashion-MNIST's, for one): their bytes
// row-major, image after image, and their labels (-1 where unlabeled).
// Pixel baselines, such as a proxy trained on raw pixels, start from it.
func GrayPixels(ds Dataset, n int) ([]byte, []int, error) {
	if n < 0 || n > ds.Len() {
		return nil, nil, fmt.Errorf("datasets: %s: %d samples asked for, it has %d", ds.Spec(), n, ds.Len())
	}
	var px []byte
	labels := make([]int, n)
	size := image.Point{}
	for i := range n {
		img, err := ds.Image(i)
		if err != nil {
			return nil, nil, err
		}
		g, ok := img.(*image.Gray)
		s := ds.Sample(i)
		if !ok {
			return nil, nil, fmt.Errorf("datasets: %s: sample %s is a %T, not an 8-bit gray image", ds.Spec(), s.ID, img)
		}
		b := g.Bounds()
		if i == 0 {
			size = b.Size()
			px = make([]byte, 0, n*size.X*size.Y)
		} else if b.Size() != size {
			return nil, nil, fmt.Errorf("datasets: %s: sample %s is %v, the first is %v", ds.Spec(), s.ID, b.Size(), size)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			px = append(px, g.Pix[g.PixOffset(b.Min.X, y):g.PixOffset(b.Max.X, y)]...)
		}
		labels[i] = s.Label
	}
	return px, labels, nil
}
