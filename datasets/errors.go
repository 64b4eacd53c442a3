package datasets

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap them; test with errors.Is.
var (
	// ErrTooLarge: an image declares more pixels than the limit (Options.MaxPixels), or a file is
	// larger than any image within the limit could need.
	ErrTooLarge = errors.New("datasets: image too large")
	// ErrUnsupportedFormat: the bytes are not a JPEG, PNG, GIF, BMP, WebP or TIFF image.
	ErrUnsupportedFormat = errors.New("datasets: unsupported image format")
	// ErrTruncated: the image data ends before the image does.
	ErrTruncated = errors.New("datasets: truncated image")
	// ErrEmpty: the file has zero bytes.
	ErrEmpty = errors.New("datasets: empty file")
	// ErrCorrupt: the image data is malformed in a way other than truncation.
	ErrCorrupt = errors.New("datasets: corrupt image")
	// ErrOutsideRoot: a path (through "..", an absolute path or a symbolic link) leaves the dataset's
	// root folder. Such paths are refused, never followed.
	ErrOutsideRoot = errors.New("datasets: path leaves the dataset folder")
	// ErrNotFound: a dataset's files or a sample's file do not exist.
	ErrNotFound = errors.New("datasets: not found")
	// ErrBadSpec: a dataset spec string is malformed or names an unknown kind.
	ErrBadSpec = errors.New("datasets: bad dataset spec")
	// ErrBadIDX: an IDX file is malformed (magic, dimensions, or size disagree with its length).
	ErrBadIDX = errors.New("datasets: malformed IDX file")
	// ErrDuplicate: an ID or path appears twice in a label file or manifest.
	ErrDuplicate = errors.New("datasets: duplicate entry")
	// ErrSyntax: a label file or manifest row has the wrong shape (field count, empty ID, bad JSON).
	ErrSyntax = errors.New("datasets: syntax error")
	// ErrLineTooLong: a line of a CSV label file or manifest exceeds MaxLineBytes.
	ErrLineTooLong = errors.New("datasets: line too long")
	// ErrUnknownLabel: a label names no class of the dataset.
	ErrUnknownLabel = errors.New("datasets: unknown label")
	// ErrNoSamples: a folder or manifest holds no images to extract.
	ErrNoSamples = errors.New("datasets: no images")
	// ErrConflict: annotators of one Label Studio task chose different classes.
	ErrConflict = errors.New("datasets: annotations disagree")
	// ErrMultipleChoices: one annotation chose several classes where a sample takes one.
	ErrMultipleChoices = errors.New("datasets: several choices in one annotation")
)

// detailError is a sentinel plus a detail (and optionally an underlying cause). Its message avoids
// repeating the package prefix when it is wrapped again by this package.
type detailError struct {
	sentinel error
	cause    error
	msg      string
}

func (e *detailError) Error() string { return e.msg }

func (e *detailError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.sentinel}
}

// reason returns an error wrapping sentinel (and cause, if not nil) whose message is the sentinel's
// text without the package prefix, followed by the formatted detail.
func reason(sentinel, cause error, format string, args ...any) error {
	msg := bare(sentinel)
	if format != "" {
		msg += ": " + fmt.Sprintf(format, args...)
	}
	return &detailError{sentinel: sentinel, cause: cause, msg: msg}
}

// bare returns err's message without the leading package prefix.
func bare(err error) string { return strings.TrimPrefix(err.Error(), "datasets: ") }

// SampleError reports a sample that cannot be read: its ID, its path ("" for samples inside an IDX
// file), its manifest row (0 when there is none) and the reason.
type SampleError struct {
	ID   string
	Path string
	Row  int
	Err  error
}

// Error names the sample's ID, path, row and the reason.
func (e *SampleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datasets: sample %q", e.ID)
	if e.Path != "" || e.Row > 0 {
		b.WriteString(" (")
		if e.Path != "" {
			fmt.Fprintf(&b, "path %q", e.Path)
		}
		if e.Row > 0 {
			if e.Path != "" {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "manifest row %d", e.Row)
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(bare(e.Err))
	return b.String()
}

// Unwrap returns the reason.
func (e *SampleError) Unwrap() error { return e.Err }

// ParseError reports a problem in a label file or manifest at a given line (1-based; 0 when the
// problem concerns the whole file).
type ParseError struct {
	File string
	Line int
	Err  error
}

// Error names the file, the line and the reason.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("datasets: %s:%d: %s", e.File, e.Line, bare(e.Err))
	}
	return fmt.Sprintf("datasets: %s: %s", e.File, bare(e.Err))
}

// Unwrap returns the reason.
func (e *ParseError) Unwrap() error { return e.Err }

// prefixedError adds context in front of an error of this package without repeating its prefix.
type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }

// openError reports err as a failure to open the dataset spec names.
func openError(spec string, err error) error {
	return &prefixedError{msg: fmt.Sprintf("datasets: open %q: %s", spec, bare(err)), err: err}
}

// public gives an error built by reason the package prefix, for functions that return it to callers
// as is.
func public(err error) error {
	if err == nil {
		return nil
	}
	return &prefixedError{msg: "datasets: " + bare(err), err: err}
}
