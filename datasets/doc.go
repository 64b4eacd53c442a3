// Package datasets finds the samples of an image pool and opens their images.
//
// A [Dataset] is opened from a spec string with [Open]:
//
//	fashion-mnist:train     Fashion-MNIST training set (gzipped IDX from Options.FashionMNISTDir)
//	fashion-mnist:test      Fashion-MNIST test set
//	idx:DIR[:PREFIX]        an IDX image file (and optional label file) in DIR
//	folder:DIR              one subfolder per class, images found recursively
//	csv:FILE                a manifest of path,label rows
//
// Every dataset lists its samples in a fixed order (index i is stable for a given content), names its
// classes (index = label, -1 = unlabeled), and opens images on demand. Image may be called from many
// goroutines at once.
//
// Images are decoded by [Decode]: JPEG (baseline, progressive, CMYK; EXIF orientation applied), PNG,
// GIF (first frame), BMP, WebP and TIFF. The header is read first and images over a pixel limit are
// refused before any pixel buffer is allocated, so a tiny file that declares a huge image costs nothing.
// Failures are reported as a [*SampleError] naming the sample's ID, path and manifest row, and wrap one
// of the sentinel errors ([ErrTooLarge], [ErrUnsupportedFormat], [ErrTruncated], [ErrEmpty],
// [ErrCorrupt], [ErrOutsideRoot]) so callers can test with errors.Is.
//
// Label files are read by [ReadLabels] (CSV id,label) and [ReadLabelStudio] (a Label Studio export:
// JSON, JSON-MIN or CSV, whose annotations [ResolveAnswers] turns into labels, refusing disagreements
// unless told how to settle them) and written by [WriteLabels]; manifests by [ReadManifest] and
// [WriteManifest]. Their errors are [*ParseError] values that name the file and line.
package datasets
