package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

const photosDir = "../testdata/photos"

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// pattern returns a w x h image with distinct, lossless-checkable pixels.
func pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 17), uint8(y * 29), uint8(x*y + 3), 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk writes one PNG chunk with its CRC, computed by hash/crc32 over type and data.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// bombPNG is a ~60-byte PNG whose header declares w x h RGB pixels.
func bombPNG(w, h uint32) []byte {
	var ihdr bytes.Buffer
	binary.Write(&ihdr, binary.BigEndian, w)
	binary.Write(&ihdr, binary.BigEndian, h)
	ihdr.Write([]byte{8, 2, 0, 0, 0}) // depth 8, RGB, deflate, no filter, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, pngChunk("IHDR", ihdr.Bytes())...)
	b = append(b, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(b, pngChunk("IEND", nil)...)
}

// exifJPEG returns a w x h JPEG, left half red and right half blue, carrying an EXIF orientation tag.
func exifJPEG(t testing.TB, w, h int, orientation uint16) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var j bytes.Buffer
	if err := jpeg.Encode(&j, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// APP1: "Exif\0\0", big-endian TIFF header, one IFD with one SHORT entry 0x0112 (orientation).
	var exif bytes.Buffer
	exif.WriteString("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08")
	binary.Write(&exif, binary.BigEndian, uint16(1))
	binary.Write(&exif, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&exif, binary.BigEndian, uint32(1))
	binary.Write(&exif, binary.BigEndian, []uint16{orientation, 0})
	binary.Write(&exif, binary.BigEndian, uint32(0))
	var out bytes.Buffer
	out.Write([]byte{0xff, 0xd8, 0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(exif.Len()+2))
	out.Write(exif.Bytes())
	out.Write(j.Bytes()[2:])
	return out.Bytes()
}

// sameNRGBA64 reports whether a and b have the same bounds and the same non-premultiplied colors.
func sameNRGBA64(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if color.NRGBA64Model.Convert(a.At(x, y)) != color.NRGBA64Model.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func TestDecodeGoodLossless(t *testing.T) {
	src := pattern(13, 7)
	gray16 := image.NewGray16(image.Rect(0, 0, 9, 5))
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, 9, 5))
	for i := range gray16.Pix {
		gray16.Pix[i] = uint8(i * 37)
	}
	for i := range rgba64.Pix {
		rgba64.Pix[i] = uint8(i*53 + 1)
	}
	for i := 6; i < len(rgba64.Pix); i += 8 {
		rgba64.Pix[i], rgba64.Pix[i+1] = 0xff, 0xff // opaque: NRGBA64 round trip through PNG is exact then
	}
	pal := image.NewPaletted(image.Rect(0, 0, 6, 4), color.Palette{color.Black, color.RGBA{200, 10, 30, 255}, color.White})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	alpha := image.NewNRGBA(image.Rect(0, 0, 5, 5))
	for i := range alpha.Pix {
		alpha.Pix[i] = uint8(i * 11)
	}
	var bmpBuf, tiffBuf bytes.Buffer
	if err := bmp.Encode(&bmpBuf, src); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, src, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want image.Image
	}{
		{"png-8bit-rgb", encodePNG(t, src), src},
		{"png-16bit-gray", encodePNG(t, gray16), gray16},
		{"png-16bit-rgba", encodePNG(t, rgba64), rgba64},
		{"png-palette", encodePNG(t, pal), pal},
		{"png-alpha", encodePNG(t, alpha), alpha},
		{"bmp", bmpBuf.Bytes(), src},
		{"tiff-deflate", tiffBuf.Bytes(), src},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(bytes.NewReader(tt.data), tt.name, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !sameNRGBA64(got, tt.want) {
				t.Errorf("decoded pixels differ from the encoded image")
			}
		})
	}
}

func TestDecodeRealPhotos(t *testing.T) {
	// Sizes from the files' headers (`file testdata/photos/*`).
	tests := []struct {
		file string
		w, h int
	}{
		{photosDir + "/astronaut.png", 512, 512},
		{photosDir + "/camera.png", 512, 512},
		{photosDir + "/chelsea.png", 451, 300},
		{photosDir + "/coffee.png", 600, 400},
		{photosDir + "/rocket.jpg", 640, 427},
		{"testdata/progressive.jpg", 96, 68},
		{"testdata/baseline.jpg", 96, 68},
		{"testdata/cmyk.jpeg", 150, 103},
		{"testdata/lossy.webp", 60, 40},
		{"testdata/lossless.webp", 60, 40},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			img, err := Decode(bytes.NewReader(readFile(t, tt.file)), tt.file, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
		})
	}
}

func TestDecodeProgressiveMatchesBaseline(t *testing.T) {
	// jpegtran re-codes the same coefficients, so the pixels must be identical.
	p, err := Decode(bytes.NewReader(readFile(t, "testdata/progressive.jpg")), "progressive", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(bytes.NewReader(readFile(t, "testdata/baseline.jpg")), "baseline", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !sameNRGBA64(p, b) {
		t.Error("progressive and baseline codings of the same coefficients decode differently")
	}
}

func TestDecodeCMYKJPEG(t *testing.T) {
	got, err := Decode(bytes.NewReader(readFile(t, "testdata/cmyk.jpeg")), "cmyk", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(*image.CMYK); !ok {
		t.Errorf("decoded as %T, want *image.CMYK (a 4-component JPEG)", got)
	}
	want, err := png.Decode(bytes.NewReader(readFile(t, "testdata/cmyk.png")))
	if err != nil {
		t.Fatal(err)
	}
	// Compare with Go's reference rendering: mean absolute difference per channel, 8-bit.
	var sum, n float64
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			for _, d := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
				sum += abs(float64(d[0]>>8) - float64(d[1]>>8))
				n++
			}
		}
	}
	if mean := sum / n; mean > 4 {
		t.Errorf("mean difference from the reference rendering %.2f, want <= 4", mean)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestDecodeEXIFOrientation(t *testing.T) {
	// 16x8, left half red; orientation 6 = "rotate 90 clockwise to display": result 8x16 with the red
	// half on top. Orientation 1 leaves it as is; 3 = rotate 180: red on the right.
	red := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return r > 0xc000 && b < 0x4000 }
	blue := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return b > 0xc000 && r < 0x4000 }
	tests := []struct {
		orientation   uint16
		w, h          int
		redAt, blueAt image.Point
	}{
		{1, 16, 8, image.Pt(2, 4), image.Pt(13, 4)},
		{3, 16, 8, image.Pt(13, 4), image.Pt(2, 4)},
		{6, 8, 16, image.Pt(4, 2), image.Pt(4, 13)},
		{8, 8, 16, image.Pt(4, 13), image.Pt(4, 2)},
	}
	for _, tt := range tests {
		img, err := Decode(bytes.NewReader(exifJPEG(t, 16, 8, tt.orientation)), "exif.jpg", 0)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("orientation %d: size %dx%d, want %dx%d", tt.orientation, b.Dx(), b.Dy(), tt.w, tt.h)
			continue
		}
		o := img.Bounds().Min
		if !red(img.At(o.X+tt.redAt.X, o.Y+tt.redAt.Y)) || !blue(img.At(o.X+tt.blueAt.X, o.Y+tt.blueAt.Y)) {
			t.Errorf("orientation %d: want red at %v and blue at %v", tt.orientation, tt.redAt, tt.blueAt)
		}
	}
}

func TestDecodeAnimatedGIFFirstFrame(t *testing.T) {
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	frame := func(c uint8) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, 4, 3), pal)
		for i := range p.Pix {
			p.Pix[i] = c
		}
		return p
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame(0), frame(1)}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(&b, "anim.gif", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, _, bl, _ := img.At(1, 1).RGBA(); r != 0xffff || bl != 0 {
		t.Errorf("pixel = %v, want the first frame's red", img.At(1, 1))
	}
}

func TestDecodeHostile(t *testing.T) {
	rocket := readFile(t, photosDir+"/rocket.jpg")
	chelsea := readFile(t, photosDir+"/chelsea.png")
	badCRC := encodePNG(t, pattern(8, 8))
	badCRC[len(badCRC)-20] ^= 0xff // inside IDAT data: checksum mismatch
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, pattern(20, 20), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		data      []byte
		maxPixels int64
		want      error
		msg       string
	}{
		{"zero-byte", nil, 0, ErrEmpty, "empty file"},
		{"text.jpg", []byte("hello, this is not an image\n"), 0, ErrUnsupportedFormat, `"hello, t"`},
		{"truncated-jpeg-half", rocket[:len(rocket)/2], 0, ErrTruncated, "jpeg data ends early"},
		{"truncated-jpeg-header", rocket[:300], 0, ErrTruncated, "jpeg header ends early"},
		{"truncated-png-half", chelsea[:len(chelsea)/2], 0, ErrTruncated, "png data ends early"},
		{"truncated-png-header", chelsea[:20], 0, ErrTruncated, "png header ends early"},
		{"truncated-gif", gifBuf.Bytes()[:gifBuf.Len()/2], 0, ErrTruncated, "gif"},
		{"bad-crc-png", badCRC, 0, ErrCorrupt, "png"},
		{"bomb-png", bombPNG(100000, 100000), 0, ErrTooLarge, "100000x100000 = 10000000000 pixels"},
		{"over-small-limit", rocket, 640*427 - 1, ErrTooLarge, "640x427"},
		{"over-file-limit", append(bytes.Clone(rocket), make([]byte, 8*100+fileSlack)...), 100, ErrTooLarge, "file over"},
		{"zero-width-png", bombPNG(0, 5), 0, ErrCorrupt, "png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(tt.data), tt.name, tt.maxPixels)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if img != nil {
				t.Error("image returned with an error")
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("message %q does not name the file and %q", err, tt.msg)
			}
			if strings.Count(err.Error(), "datasets:") != 1 {
				t.Errorf("message %q repeats the package prefix", err)
			}
		})
	}
}

func TestDecodeBombAllocatesLittle(t *testing.T) {
	bomb := bombPNG(100000, 100000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := Decode(bytes.NewReader(bomb), "bomb.png", 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / 10; perCall > 1<<20 {
		t.Errorf("refusing a bomb allocated %d bytes per call, want < 1 MiB", perCall)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, pattern(3, 2)))
	f.Add(bombPNG(3, 2))
	f.Add(exifJPEG(f, 8, 8, 6))
	f.Add([]byte("GIF89a"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte("II*\x00\x08\x00\x00\x00"))
	f.Add([]byte("BM"))
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data), "fuzz", limit)
		if err != nil {
			if img != nil {
				t.Fatal("image with error")
			}
			return
		}
		if b := img.Bounds(); int64(b.Dx())*int64(b.Dy()) > limit {
			t.Fatalf("decoded %v, over the limit", b)
		}
	})
}
