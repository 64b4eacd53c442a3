package tfjs

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every *SyntaxError: the input is not a JavaScript
// literal that this package understands.
var ErrSyntax = errors.New("tfjs: syntax error")

// maxLiteralDepth bounds the nesting of arrays and objects so that hostile
// input cannot exhaust the stack.
const maxLiteralDepth = 512

// SyntaxError reports where a JavaScript literal could not be parsed.
type SyntaxError struct {
	File   string // file name, empty when parsing a bare string
	Offset int    // byte offset into the input
	Msg    string // what was wrong
}

// Error formats the error as "tfjs: FILE: offset N: MSG".
func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("tfjs: offset %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("tfjs: %s: offset %d: %s", e.File, e.Offset, e.Msg)
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// ParseLiteral parses one JavaScript value literal at the start of src (after
// optional white space) and returns it with the offset just past it.
//
// It accepts what minifiers emit for JSON-like data: objects with unquoted,
// quoted or numeric keys, arrays, strings in single or double quotes with
// escapes, numbers such as .5, -1e-3 and 0x1F, !0 and !1 for true and false,
// true, false, null, undefined, void 0, NaN, Infinity, trailing commas and
// comments. Objects become map[string]any, arrays []any, numbers float64,
// strings string, booleans bool, null and undefined nil. Keys repeated in an
// object keep the last value, as in JavaScript. Anything else (function
// calls, identifiers as values, expressions) is a *SyntaxError.
func ParseLiteral(src []byte) (value any, end int, err error) {
	p := &litParser{src: src}
	v, err := p.value(0)
	if err != nil {
		return nil, p.pos, err
	}
	return v, p.pos, nil
}

type litParser struct {
	src []byte
	pos int
}

func (p *litParser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// skip moves past white space and comments.
func (p *litParser) skip() error {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '*':
			start := p.pos
			i := bytes.Index(p.src[p.pos+2:], []byte("*/"))
			if i < 0 {
				p.pos = start
				return p.errorf("unterminated comment")
			}
			p.pos += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

func (p *litParser) value(depth int) (any, error) {
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input, want a value")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		if depth >= maxLiteralDepth {
			return nil, p.errorf("nesting deeper than %d", maxLiteralDepth)
		}
		return p.object(depth + 1)
	case c == '[':
		if depth >= maxLiteralDepth {
			return nil, p.errorf("nesting deeper than %d", maxLiteralDepth)
		}
		return p.array(depth + 1)
	case c == '"' || c == '\'':
		return p.str()
	case c == '!':
		start := p.pos
		p.pos++
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && (p.src[p.pos] == '0' || p.src[p.pos] == '1') &&
			(p.pos+1 >= len(p.src) || !isNumChar(p.src[p.pos+1])) {
			b := p.src[p.pos] == '0'
			p.pos++
			return b, nil
		}
		p.pos = start
		return nil, p.errorf("unsupported negation, want !0 or !1")
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case isIdentStart(c):
		start := p.pos
		id := p.ident()
		switch id {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null", "undefined":
			return nil, nil
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "void":
			if err := p.skip(); err != nil {
				return nil, err
			}
			if _, err := p.number(); err != nil {
				return nil, err
			}
			return nil, nil
		}
		p.pos = start
		return nil, p.errorf("unexpected identifier %q, want a literal value", id)
	}
	return nil, p.errorf("unexpected character %q, want a value", rune(c))
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isNumChar(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == 'x' || c == 'X' ||
		(c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '_'
}

func (p *litParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

func (p *litParser) number() (float64, error) {
	start := p.pos
	if p.pos >= len(p.src) {
		return 0, p.errorf("unexpected end of input, want a number")
	}
	neg := false
	if c := p.src[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
		if err := p.skip(); err != nil {
			return 0, err
		}
	}
	if p.pos+8 <= len(p.src) && string(p.src[p.pos:p.pos+8]) == "Infinity" {
		p.pos += 8
		if neg {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	}
	numStart := p.pos
	if p.pos+1 < len(p.src) && p.src[p.pos] == '0' && (p.src[p.pos+1] == 'x' || p.src[p.pos+1] == 'X') {
		p.pos += 2
		for p.pos < len(p.src) && isHex(p.src[p.pos]) {
			p.pos++
		}
		text := string(p.src[numStart:p.pos])
		u, err := strconv.ParseUint(text[2:], 16, 64)
		if err != nil {
			p.pos = start
			return 0, p.errorf("bad hexadecimal number %q", text)
		}
		f := float64(u)
		if neg {
			f = -f
		}
		return f, nil
	}
	digits := 0
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
		digits++
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
			digits++
		}
	}
	if digits == 0 {
		p.pos = start
		return 0, p.errorf("bad number")
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		expDigits := 0
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
			expDigits++
		}
		if expDigits == 0 {
			p.pos = start
			return 0, p.errorf("bad number exponent")
		}
	}
	if p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
		p.pos = start
		return 0, p.errorf("bad number")
	}
	text := string(p.src[numStart:p.pos])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		p.pos = start
		return 0, p.errorf("bad number %q", text)
	}
	if neg {
		f = -f
	}
	return f, nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (p *litParser) str() (string, error) {
	quote := p.src[p.pos]
	start := p.pos
	p.pos++
	// Fast path: no escapes.
	i := p.pos
	for i < len(p.src) && p.src[i] != quote && p.src[i] != '\\' && p.src[i] != '\n' {
		i++
	}
	if i < len(p.src) && p.src[i] == quote {
		s := string(p.src[p.pos:i])
		p.pos = i + 1
		return s, nil
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == quote:
			p.pos++
			return b.String(), nil
		case c == '\n' || c == '\r':
			p.pos = start
			return "", p.errorf("unterminated string")
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.errorf("unterminated string")
		}
		e := p.src[p.pos]
		p.pos++
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '0':
			b.WriteByte(0)
		case '\n':
			// Line continuation.
		case 'x':
			r, err := p.hexRune(2)
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case 'u':
			r, err := p.unicodeEscape()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) && p.pos+1 < len(p.src) && p.src[p.pos] == '\\' && p.src[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				r2, err := p.unicodeEscape()
				if err == nil {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b.WriteRune(d)
						continue
					}
				}
				p.pos = save
			}
			b.WriteRune(r)
		default:
			b.WriteByte(e)
		}
	}
}

func (p *litParser) unicodeEscape() (rune, error) {
	if p.pos < len(p.src) && p.src[p.pos] == '{' {
		p.pos++
		start := p.pos
		for p.pos < len(p.src) && isHex(p.src[p.pos]) {
			p.pos++
		}
		if p.pos >= len(p.src) || p.src[p.pos] != '}' || p.pos == start || p.pos-start > 6 {
			return 0, p.errorf("bad \\u{...} escape")
		}
		u, _ := strconv.ParseUint(string(p.src[start:p.pos]), 16, 32)
		p.pos++
		if u > utf8.MaxRune {
			return 0, p.errorf("bad \\u{...} escape")
		}
		return rune(u), nil
	}
	return p.hexRune(4)
}

func (p *litParser) hexRune(n int) (rune, error) {
	if p.pos+n > len(p.src) {
		return 0, p.errorf("short escape")
	}
	u, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
	if err != nil {
		return 0, p.errorf("bad escape %q", p.src[p.pos:p.pos+n])
	}
	p.pos += n
	return rune(u), nil
}

func (p *litParser) object(depth int) (map[string]any, error) {
	p.pos++ // '{'
	m := map[string]any{}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in object")
		}
		if p.src[p.pos] == '}' {
			p.pos++
			return m, nil
		}
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("want ':' after object key %q", key)
		}
		p.pos++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return m, nil
		default:
			return nil, p.errorf("want ',' or '}' in object, got %q", rune(p.src[p.pos]))
		}
	}
}

func (p *litParser) key() (string, error) {
	c := p.src[p.pos]
	switch {
	case c == '"' || c == '\'':
		return p.str()
	case isIdentStart(c):
		return p.ident(), nil
	case c == '.' || (c >= '0' && c <= '9'):
		f, err := p.number()
		if err != nil {
			return "", err
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return "", p.errorf("unexpected character %q, want an object key", rune(c))
}

func (p *litParser) array(depth int) ([]any, error) {
	p.pos++ // '['
	a := []any{}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in array")
		}
		if p.src[p.pos] == ']' {
			p.pos++
			return a, nil
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return a, nil
		default:
			return nil, p.errorf("want ',' or ']' in array, got %q", rune(p.src[p.pos]))
		}
	}
}

// ExtractExports finds the value a browserify/UMD bundle assigns to a
// module's exports (`X.exports={...}` or `X.exports="..."`) and parses it.
// The first assignment whose right-hand side starts a literal ({, [, " or ')
// wins; `module.exports=e()` in the UMD header is skipped. name is used in
// error messages.
func ExtractExports(name string, src []byte) (any, error) {
	const marker = "exports="
	from := 0
	for {
		i := bytes.Index(src[from:], []byte(marker))
		if i < 0 {
			return nil, &SyntaxError{File: name, Offset: len(src), Msg: "no `exports=` assignment of a literal found"}
		}
		at := from + i + len(marker)
		j := at
		for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
			j++
		}
		if j < len(src) && (src[j] == '{' || src[j] == '[' || src[j] == '"' || src[j] == '\'') {
			v, _, err := ParseLiteral(src[j:])
			if err != nil {
				var se *SyntaxError
				if errors.As(err, &se) {
					se.File = name
					se.Offset += j
				}
				return nil, err
			}
			return v, nil
		}
		from = at
	}
}
