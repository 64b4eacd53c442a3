package embeddings

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/asvp-dev/asvp/features"
)

// ParquetOptions names the columns of a Parquet embedding file.
type ParquetOptions struct {
	// IDColumn is the sample ID column: strings or integers ("" means "id").
	IDColumn string
	// VectorColumn is a list column of floats holding each row's vector.
	// "" means the file's only list column, or, when it has none, every
	// float column other than the ID and label columns, one per
	// dimension, in schema order.
	VectorColumn string
	// LabelColumn, when not "", is a column of class names (strings or
	// integers); a null is an unlabeled row.
	LabelColumn string
}

// ReadParquet reads a Parquet file of an ID column and a vector per row:
// a list column of float32 or float64 values (Arrow's fixed-size lists are
// written as such), or one float column per dimension. Errors name the
// row (1-based, in file order): a null or empty vector, a null value, a
// vector whose length differs from the first row's, a non-finite value, a
// null, empty or repeated ID.
func ReadParquet(path string, opts ParquetOptions) (*File, error) {
	if opts.IDColumn == "" {
		opts.IDColumn = "id"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	defer f.Close()
	hsh := NewHasher()
	size, err := io.Copy(hsh, f)
	if err != nil {
		return nil, fmt.Errorf("embeddings: reading %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, formatErr(path, "not a Parquet file (%v)", err)
	}
	schema := pf.Schema()
	idCol, err := scalarColumn(schema, path, opts.IDColumn, "ID")
	if err != nil {
		return nil, err
	}
	var labelCol *parquet.LeafColumn
	if opts.LabelColumn != "" {
		c, err := scalarColumn(schema, path, opts.LabelColumn, "label")
		if err != nil {
			return nil, err
		}
		labelCol = &c
	}
	list, dims, dtype, err := vectorColumns(schema, path, opts)
	if err != nil {
		return nil, err
	}
	rows := int(pf.NumRows())
	if rows < 1 {
		return nil, formatErr(path, "no rows")
	}
	out := &File{DType: dtype, Hash: hsh.Sum()}
	m := &features.Matrix{Rows: rows, IDs: make([]string, 0, rows)}
	out.Matrix = m
	if labelCol != nil {
		out.Labels = make([]string, 0, rows)
	}
	seen := make(map[string]int, rows)
	base := 0 // rows of earlier row groups
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		n := int(rg.NumRows())
		err := eachValue(chunks[idCol.ColumnIndex], func(k int, v parquet.Value) error {
			id, ok := scalarString(v)
			if !ok {
				return rowErr(path, base+k+1, "null ID in column %q", opts.IDColumn)
			}
			if err := CheckID(id); err != nil {
				return rowErr(path, base+k+1, "column %q: %v", opts.IDColumn, err)
			}
			if prev, dup := seen[id]; dup {
				return rowErr(path, base+k+1, "id %q repeats row %d", id, prev)
			}
			seen[id] = base + k + 1
			m.IDs = append(m.IDs, id)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if labelCol != nil {
			err := eachValue(chunks[labelCol.ColumnIndex], func(_ int, v parquet.Value) error {
				s, _ := scalarString(v)
				out.Labels = append(out.Labels, s)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if list != nil {
			err = readList(chunks[list.ColumnIndex], *list, path, base, m)
		} else {
			err = readDims(chunks, dims, path, base, n, m)
		}
		if err != nil {
			return nil, err
		}
		base += n
	}
	if len(m.IDs) != rows || m.Rows*m.Cols != len(m.Data) || (out.Labels != nil && len(out.Labels) != rows) {
		return nil, formatErr(path, "column lengths disagree with the %d rows the footer declares", rows)
	}
	for i := range rows {
		if err := checkRow(m.Row(i)); err != nil {
			return nil, rowErr(path, i+1, "id %q: %v", m.IDs[i], err)
		}
	}
	return out, nil
}

// scalarColumn looks up a top-level, non-repeated string or integer column.
func scalarColumn(s *parquet.Schema, path, name, what string) (parquet.LeafColumn, error) {
	c, ok := s.Lookup(name)
	if !ok {
		return c, formatErr(path, "no %s column %q (columns: %s)", what, name, columnNames(s))
	}
	if c.MaxRepetitionLevel > 0 {
		return c, formatErr(path, "%s column %q is a list, want one value per row", what, name)
	}
	switch c.Node.Type().Kind() {
	case parquet.ByteArray, parquet.Int32, parquet.Int64:
		return c, nil
	}
	return c, formatErr(path, "%s column %q holds %s values, want strings or integers", what, name, c.Node.Type())
}

// vectorColumns finds the vector: one list column, or float columns one
// per dimension.
func vectorColumns(s *parquet.Schema, path string, opts ParquetOptions) (list *parquet.LeafColumn, dims []parquet.LeafColumn, dtype string, err error) {
	var lists, floats []parquet.LeafColumn
	for _, p := range s.Columns() {
		if p[0] == opts.IDColumn || p[0] == opts.LabelColumn || opts.VectorColumn != "" && p[0] != opts.VectorColumn {
			continue
		}
		c, _ := s.Lookup(p...)
		k := c.Node.Type().Kind()
		if k != parquet.Float && k != parquet.Double {
			if opts.VectorColumn != "" {
				return nil, nil, "", formatErr(path, "vector column %q holds %s values, want float or double", opts.VectorColumn, c.Node.Type())
			}
			continue
		}
		if c.MaxRepetitionLevel > 1 {
			return nil, nil, "", formatErr(path, "column %s is a nested list, want one list of floats per row", strings.Join(p, "."))
		}
		if c.MaxRepetitionLevel == 1 {
			lists = append(lists, c)
		} else {
			floats = append(floats, c)
		}
	}
	dtype = Float32
	switch {
	case len(lists) == 1 && len(floats) == 0:
		return &lists[0], nil, dtype, nil
	case len(lists) > 1:
		return nil, nil, "", formatErr(path, "%d list columns: name the vector with --vector-column (columns: %s)", len(lists), columnNames(s))
	case len(lists) == 1:
		return nil, nil, "", formatErr(path, "a list column and %d float columns: name the vector with --vector-column", len(floats))
	case len(floats) == 0:
		if opts.VectorColumn != "" {
			return nil, nil, "", formatErr(path, "no vector column %q (columns: %s)", opts.VectorColumn, columnNames(s))
		}
		return nil, nil, "", formatErr(path, "no list column of floats and no float columns (columns: %s)", columnNames(s))
	}
	return nil, floats, dtype, nil
}

func columnNames(s *parquet.Schema) string {
	var names []string
	for _, p := range s.Columns() {
		names = append(names, strings.Join(p, "."))
	}
	return strings.Join(names, ", ")
}

// eachValue calls fn with every value of a non-repeated column chunk and
// its row within the chunk.
func eachValue(cc parquet.ColumnChunk, fn func(k int, v parquet.Value) error) error {
	r := parquet.NewColumnChunkValueReader(cc)
	defer r.Close()
	buf := make([]parquet.Value, 4096)
	k := 0
	for {
		n, err := r.ReadValues(buf)
		for _, v := range buf[:n] {
			if e := fn(k, v); e != nil {
				return e
			}
			k++
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("embeddings: reading column %d: %w", cc.Column(), err)
		}
	}
}

// scalarString returns a string or integer value as a string; false for a null.
func scalarString(v parquet.Value) (string, bool) {
	if v.IsNull() {
		return "", false
	}
	switch v.Kind() {
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10), true
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10), true
	}
	return string(v.ByteArray()), true
}

func floatOf(v parquet.Value) float32 {
	if v.Kind() == parquet.Double {
		return float32(v.Double())
	}
	return v.Float()
}

// readList appends one row group's list column to m, checking that every
// row holds a vector of the same length, without nulls.
func readList(cc parquet.ColumnChunk, c parquet.LeafColumn, path string, base int, m *features.Matrix) error {
	row := 0    // rows of this chunk started so far
	length := 0 // values of the current row
	end := func() error {
		if row == 0 {
			return nil
		}
		if m.Cols == 0 && base == 0 && row == 1 {
			m.Cols = length
			m.Data = slices.Grow(m.Data, m.Rows*length-len(m.Data))
			return nil
		}
		if length != m.Cols {
			return rowErr(path, base+row, "vector of %d values, row 1 has %d (ragged list column)", length, m.Cols)
		}
		return nil
	}
	err := eachValue(cc, func(_ int, v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			if err := end(); err != nil {
				return err
			}
			row++
			length = 0
		}
		if v.DefinitionLevel() < c.MaxDefinitionLevel {
			if length == 0 && v.RepetitionLevel() == 0 {
				return rowErr(path, base+row, "null or empty vector")
			}
			return rowErr(path, base+row, "value %d (0-based) of the vector is null", length)
		}
		m.Data = append(m.Data, floatOf(v))
		length++
		return nil
	})
	if err != nil {
		return err
	}
	return end()
}

// readDims fills rows base..base+n-1 of m from float columns, one per
// dimension.
func readDims(chunks []parquet.ColumnChunk, dims []parquet.LeafColumn, path string, base, n int, m *features.Matrix) error {
	if m.Cols == 0 {
		m.Cols = len(dims)
		m.Data = make([]float32, m.Rows*m.Cols)
	}
	for j, c := range dims {
		err := eachValue(chunks[c.ColumnIndex], func(k int, v parquet.Value) error {
			if v.IsNull() {
				return rowErr(path, base+k+1, "column %q is null", strings.Join(c.Path, "."))
			}
			if k >= n {
				return formatErr(path, "column %q holds more values than its row group's %d rows", strings.Join(c.Path, "."), n)
			}
			m.Data[(base+k)*m.Cols+j] = floatOf(v)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteParquet writes m to w as a Parquet file of two columns: "id"
// (string) and "embedding" (a list of float32, every row of length
// m.Cols: Parquet has no fixed-size list, so the length is also recorded
// in the file's metadata as "asvp.dim"), snappy-compressed.
func WriteParquet(m *features.Matrix, w io.Writer) error {
	type row struct {
		ID        string    `parquet:"id"`
		Embedding []float32 `parquet:"embedding,list"`
	}
	pw := parquet.NewGenericWriter[row](w, parquet.Compression(&parquet.Snappy),
		parquet.KeyValueMetadata("asvp.dim", strconv.Itoa(m.Cols)),
		parquet.CreatedBy("asvp", "", ""))
	const batch = 1024
	rows := make([]row, 0, batch)
	for i := range m.Rows {
		rows = append(rows, row{ID: m.IDs[i], Embedding: m.Row(i)})
		if len(rows) == batch || i == m.Rows-1 {
			if _, err := pw.Write(rows); err != nil {
				return fmt.Errorf("embeddings: writing parquet: %w", err)
			}
			rows = rows[:0]
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("embeddings: writing parquet: %w", err)
	}
	return nil
}
