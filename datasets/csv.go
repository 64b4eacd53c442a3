package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxLineBytes is the longest line (newline included) accepted in a CSV label file or manifest:
// 64 KiB, far above any path (Linux allows 4096 bytes) or label. A longer line is an error wrapping
// ErrLineTooLong, found without reading the rest of the line.
const MaxLineBytes = 64 << 10

// record is one non-blank CSV line split into fields.
type record struct {
	fields []string
	line   int
}

// readCSV reads comma-separated records, one per line. It drops a UTF-8 byte-order mark, accepts LF
// and CRLF line ends, skips blank lines, unquotes "quoted" fields ("" inside stands for ") and trims
// spaces around unquoted fields. Quoted fields may not span lines.
func readCSV(r io.Reader, name string) ([]record, error) {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	var out []record
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, &ParseError{File: name, Line: line, Err: reason(ErrLineTooLong, nil, "over %d bytes", MaxLineBytes)}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("datasets: read: %w", err)}
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(bytes.TrimSpace(b)) > 0 {
			if !utf8.Valid(b) {
				return nil, &ParseError{File: name, Line: line, Err: reason(ErrSyntax, nil, "line is not valid UTF-8")}
			}
			if bytes.IndexByte(b, '\r') >= 0 {
				return nil, &ParseError{File: name, Line: line, Err: reason(ErrSyntax, nil,
					"carriage return inside the line (old Mac line ends?); use LF or CRLF")}
			}
			fields, ferr := splitCSVLine(string(b))
			if ferr != nil {
				return nil, &ParseError{File: name, Line: line, Err: ferr}
			}
			out = append(out, record{fields: fields, line: line})
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}

// splitCSVLine splits one line into fields (RFC 4180 quoting, no embedded line breaks).
func splitCSVLine(s string) ([]string, error) {
	var fields []string
	for {
		rest := strings.TrimLeft(s, " \t")
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(rest[i:], '"')
				if j < 0 {
					return nil, reason(ErrSyntax, nil, "unterminated quoted field")
				}
				b.WriteString(rest[i : i+j])
				i += j + 1
				if i < len(rest) && rest[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			fields = append(fields, b.String())
			after := strings.TrimLeft(rest[i:], " \t")
			if after == "" {
				return fields, nil
			}
			if after[0] != ',' {
				return nil, reason(ErrSyntax, nil, "text after the closing quote of field %d", len(fields))
			}
			s = after[1:]
			continue
		}
		field, tail, more := strings.Cut(s, ",")
		if strings.Contains(field, `"`) {
			return nil, reason(ErrSyntax, nil, "quote inside unquoted field %d", len(fields)+1)
		}
		fields = append(fields, strings.TrimSpace(field))
		if !more {
			return fields, nil
		}
		s = tail
	}
}

// isHeader reports whether fields are exactly the given column names (case and spaces ignored).
func isHeader(fields []string, names ...string) bool {
	if len(fields) == 0 || len(fields) > len(names) {
		return false
	}
	for i, f := range fields {
		if !strings.EqualFold(strings.TrimSpace(f), names[i]) {
			return false
		}
	}
	return true
}

// writeCSVField writes one field, quoted when it needs to be. Line breaks cannot be read back, so
// they are refused.
func writeCSVField(b *strings.Builder, f string) error {
	if strings.ContainsAny(f, "\r\n") {
		return reason(ErrSyntax, nil, "field %q holds a line break", f)
	}
	if f != strings.TrimSpace(f) || strings.ContainsAny(f, `,"`) {
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(f, `"`, `""`))
		b.WriteByte('"')
		return nil
	}
	b.WriteString(f)
	return nil
}
