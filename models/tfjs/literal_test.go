package tfjs

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseLiteral(t *testing.T) {
	tests := []struct {
		in   string
		want any
		end  int // -1: len(in)
	}{
		{`{a:1}`, map[string]any{"a": 1.0}, -1},
		{` {"a" : [1, .5, -.25, 1e3, -2E-2, 0x1F]} rest`, map[string]any{"a": []any{1.0, 0.5, -0.25, 1000.0, -0.02, 31.0}}, 40},
		{`[!0,!1,true,false,null,undefined,void 0]`, []any{true, false, true, false, nil, nil, nil}, -1},
		{`{'k':'v\'s',$x:"a\"b\\c\n\u00e9\x41",_y2:[]}`, map[string]any{"k": "v's", "$x": "a\"b\\c\né" + "A", "_y2": []any{}}, -1},
		{`{a:[1,2,],b:{},}`, map[string]any{"a": []any{1.0, 2.0}, "b": map[string]any{}}, -1},
		{"{/* c */a:1, // line\n b:2}", map[string]any{"a": 1.0, "b": 2.0}, -1},
		{`{1:"one",.5:"half"}`, map[string]any{"1": "one", "0.5": "half"}, -1},
		{`{a:1,a:2}`, map[string]any{"a": 2.0}, -1},
		{`"\ud83d\ude00"`, "😀", -1},
		{`"\u{1F600}"`, "😀", -1},
		{`-Infinity`, math.Inf(-1), -1},
		{`{padding:[[0,1],[0,1]],max_value:6}`, map[string]any{"padding": []any{[]any{0.0, 1.0}, []any{0.0, 1.0}}, "max_value": 6.0}, -1},
	}
	for _, tt := range tests {
		got, end, err := ParseLiteral([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseLiteral(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLiteral(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		wantEnd := tt.end
		if wantEnd < 0 {
			wantEnd = len(tt.in)
		}
		if end != wantEnd {
			t.Errorf("ParseLiteral(%q) end = %d, want %d", tt.in, end, wantEnd)
		}
	}
}

func TestParseLiteralErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{``, 0, "unexpected end"},
		{`{a 1}`, 3, "want ':'"},
		{`{a:1 b:2}`, 5, "want ',' or '}'"},
		{`[1 2]`, 3, "want ',' or ']'"},
		{`{a:foo}`, 3, "unexpected identifier"},
		{`{a:f()}`, 3, "unexpected identifier"},
		{`"abc`, 0, "unterminated string"},
		{`{a:!2}`, 3, "want !0 or !1"},
		{`[1.2.3]`, 4, "want ',' or ']'"},
		{`[1e]`, 1, "exponent"},
		{`[12abc]`, 1, "bad number"},
		{`{a:1`, 4, "unexpected end"},
		{`/* x`, 0, "unterminated comment"},
		{`[-]`, 1, "bad number"},
		{`{"a":"\u12"}`, 8, "bad escape"},
		{strings.Repeat("[", maxLiteralDepth+1), maxLiteralDepth, "nesting"},
	}
	for _, tt := range tests {
		_, _, err := ParseLiteral([]byte(tt.in))
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseLiteral(%q) error = %v, want *SyntaxError wrapping ErrSyntax", tt.in, err)
			continue
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ParseLiteral(%q) = offset %d %q, want offset %d containing %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
		}
	}
}

func TestExtractExports(t *testing.T) {
	umd := `!function(e){"object"==typeof exports&&"undefined"!=typeof module?module.exports=e():x.m=e()}(function(){return function e(a,n,i){}({1:[function(e,a,n){a.exports={k:[1,!0]}},{}]},{},[1])(1)});`
	got, err := ExtractExports("m.min.js", []byte(umd))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"k": []any{1.0, true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ExtractExports = %#v, want %#v", got, want)
	}
	// Errors carry the file name and the offset within the whole file.
	bad := `module.exports=e();a.exports={k:[1,?]}`
	_, err = ExtractExports("bad.min.js", []byte(bad))
	var se *SyntaxError
	if !errors.As(err, &se) || se.File != "bad.min.js" || se.Offset != strings.Index(bad, "?") {
		t.Errorf("ExtractExports(bad) error = %v, want bad.min.js at offset %d", err, strings.Index(bad, "?"))
	}
	if !strings.Contains(err.Error(), "bad.min.js: offset 35:") {
		t.Errorf("error text %q does not name file and offset", err)
	}
	if _, err := ExtractExports("none.js", []byte(`module.exports=e()`)); !errors.Is(err, ErrSyntax) {
		t.Errorf("ExtractExports without literal: %v, want ErrSyntax", err)
	}
}

// FuzzParseLiteral checks that the parser never panics, that the end offset
// is in range, and that what it parses from JSON agrees with encoding/json.
func FuzzParseLiteral(f *testing.F) {
	for _, s := range []string{
		`{a:1,b:[!0,!1,null],"c":'d',e:.5,f:-1e-3}`,
		`{modelTopology:{keras_version:"2.2.4",model_config:{class_name:"Model",config:{layers:[]}}}}`,
		`[0x10, "\u00e9\x41\n", void 0, undefined, NaN, -Infinity]`,
		`{"json": [1, 2.5, "x", true, false, null, {"y": {}}]}`,
		"{/*c*/a:1//x\n}",
		`"YWJj"`,
		`[[[[]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, end, err := ParseLiteral(b)
		if end < 0 || end > len(b) {
			t.Fatalf("end %d out of range [0,%d]", end, len(b))
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		// Strings pass bytes through; encoding/json replaces invalid UTF-8.
		if json.Valid(b) && utf8.Valid(b) {
			var want any
			// encoding/json rejects numbers beyond float64; JavaScript
			// (and ParseLiteral) make them infinite.
			if err := json.Unmarshal(b, &want); err == nil && !reflect.DeepEqual(v, want) {
				t.Fatalf("ParseLiteral(%q) = %#v, encoding/json %#v", b, v, want)
			}
		}
	})
}
