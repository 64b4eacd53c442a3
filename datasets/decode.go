package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"github.com/disintegration/imaging"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// DefaultMaxPixels is the largest image (width x height) decoded when no limit is given: 50 million
// pixels, about a 8660x5773 photo, or 200 MB as 8-bit RGBA.
const DefaultMaxPixels int64 = 50_000_000

// maxBytesPerPixel bounds the file size of any image within the pixel limit: uncompressed 16-bit
// RGBA (TIFF, PNG stored blocks) takes 8 bytes per pixel. Metadata slack is added on top.
const (
	maxBytesPerPixel = 8
	fileSlack        = 16 << 20
)

// format is one image format this package decodes, with the checks that recognise it.
type format struct {
	name   string
	match  func(b []byte) bool
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// decodeJPEG decodes a JPEG and applies its EXIF orientation so the image is upright.
func decodeJPEG(r io.Reader) (image.Image, error) {
	return imaging.Decode(r, imaging.AutoOrientation(true))
}

var formats = [...]format{
	{"jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\xff\xd8")) }, jpeg.DecodeConfig, decodeJPEG},
	{"png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }, png.DecodeConfig, png.Decode},
	{"gif", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
	}, gif.DecodeConfig, gif.Decode},
	{"bmp", func(b []byte) bool { return bytes.HasPrefix(b, []byte("BM")) }, bmp.DecodeConfig, bmp.Decode},
	{"webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}, webp.DecodeConfig, webp.Decode},
	{"tiff", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
	}, tiff.DecodeConfig, tiff.Decode},
}

// imageExtensions are the file name extensions (lower case) that folder datasets treat as images.
var imageExtensions = map[string]bool{
	".jpg": true, ".jpeg": true, ".jpe": true, ".png": true, ".gif": true, ".bmp": true,
	".webp": true, ".tif": true, ".tiff": true,
}

// Decode reads one image from r. The format is recognised from the content, not from name, which
// only labels error messages. The header is read first: an image with more than maxPixels pixels
// (DefaultMaxPixels when maxPixels <= 0) is refused with ErrTooLarge before its pixels are
// allocated. JPEGs are turned upright according to their EXIF orientation; GIFs give their first
// frame. Errors wrap ErrEmpty, ErrUnsupportedFormat, ErrTooLarge, ErrTruncated or ErrCorrupt.
func Decode(r io.Reader, name string, maxPixels int64) (image.Image, error) {
	img, err := decode(r, maxPixels)
	if err != nil {
		return nil, &prefixedError{msg: fmt.Sprintf("datasets: decode %s: %s", name, bare(err)), err: err}
	}
	return img, nil
}

// decode is Decode without the name in its errors.
func decode(r io.Reader, maxPixels int64) (img image.Image, err error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	maxBytes := maxPixels*maxBytesPerPixel + fileSlack
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("datasets: read: %w", err)
	}
	if len(data) == 0 {
		return nil, reason(ErrEmpty, nil, "")
	}
	if int64(len(data)) > maxBytes {
		return nil, reason(ErrTooLarge, nil, "file over %d bytes", maxBytes)
	}
	var f *format
	for i := range formats {
		if formats[i].match(data) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		return nil, reason(ErrUnsupportedFormat, nil, "content starts with %q", head(data))
	}
	// Third-party decoders have panicked on hostile input in the past; a bad file must not take the
	// whole process down.
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, reason(ErrCorrupt, nil, "%s decoder failed: %v", f.name, p)
		}
	}()
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return nil, decoderError(f.name, "header", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, reason(ErrCorrupt, nil, "%s header declares %dx%d pixels", f.name, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return nil, reason(ErrTooLarge, nil, "%s declares %dx%d = %d pixels, over the limit of %d",
			f.name, cfg.Width, cfg.Height, px, maxPixels)
	}
	img, err = f.decode(bytes.NewReader(data))
	if err != nil {
		return nil, decoderError(f.name, "data", err)
	}
	return img, nil
}

// decoderError classifies an error from a format decoder as truncation or corruption.
func decoderError(format, part string, err error) error {
	// Some decoders flatten io.ErrUnexpectedEOF into their own message, or report running out of data
	// in their own words, hence the text checks.
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.HasSuffix(msg, ": EOF") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "short Huffman data") ||
		strings.Contains(msg, "not enough pixel data") {
		return reason(ErrTruncated, err, "%s %s ends early (%v)", format, part, err)
	}
	return reason(ErrCorrupt, err, "%s %s: %v", format, part, err)
}

// head returns up to the first 8 bytes of b, for error messages.
func head(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}
