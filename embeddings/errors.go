package embeddings

import (
	"errors"
	"fmt"
)

// ErrFormat is matched (errors.Is) by every error about a file's content:
// its header, its schema or one of its rows.
var ErrFormat = errors.New("embeddings: bad file")

// RowError is an error about one row of a file. Row is 1-based, in the
// file's row order (the first data row is row 1; for an IDs file, its
// line).
type RowError struct {
	File string
	Row  int
	Err  error
}

// Error names the file and the row.
func (e *RowError) Error() string {
	return fmt.Sprintf("embeddings: %s: row %d (1-based): %v", e.File, e.Row, e.Err)
}

// Unwrap returns the reason; a RowError also matches ErrFormat.
func (e *RowError) Unwrap() []error { return []error{e.Err, ErrFormat} }

func rowErr(file string, row int, format string, a ...any) error {
	return &RowError{File: file, Row: row, Err: fmt.Errorf(format, a...)}
}

func formatErr(file, format string, a ...any) error {
	return fmt.Errorf("embeddings: %s: %s: %w", file, fmt.Sprintf(format, a...), ErrFormat)
}
