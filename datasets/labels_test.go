package datasets

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadLabels(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Label
		err  error
		line int
		msg  string
	}{
		{"header", "id,label\na,cat\nb,dog\n", []Label{{ID: "a", Label: "cat", Line: 2}, {ID: "b", Label: "dog", Line: 3}}, nil, 0, ""},
		{"no-header-bom-crlf-blank", "\xef\xbb\xbfa,cat\r\n\r\n  \r\nb , dog\r\n", []Label{{ID: "a", Label: "cat", Line: 1}, {ID: "b", Label: "dog", Line: 4}}, nil, 0, ""},
		{"header-case-no-final-newline", "ID,Label\ntrain/00001,Ankle boot", []Label{{ID: "train/00001", Label: "Ankle boot", Line: 2}}, nil, 0, ""},
		{"quoted", "\"a,1\",\"T-shirt \"\"top\"\"\"\n", []Label{{ID: "a,1", Label: `T-shirt "top"`, Line: 1}}, nil, 0, ""},
		{"empty", "", []Label{}, nil, 0, ""},
		{"duplicate", "a,cat\nb,dog\n\na,dog\n", nil, ErrDuplicate, 4, `"a" already labeled on line 1`},
		{"empty-id", "a,cat\n,dog\n", nil, ErrSyntax, 2, "empty id"},
		{"empty-label", "a,\n", nil, ErrSyntax, 1, "empty label"},
		{"too-many-fields", "a,cat,extra\n", nil, ErrSyntax, 1, "too many fields"},
		{"one-field", "id,label\na\n", nil, ErrSyntax, 2, "missing label"},
		{"huge-line", "a,cat\n" + strings.Repeat("x", 10<<20) + ",dog\n", nil, ErrLineTooLong, 2, "65536"},
		{"bad-utf8", "a,\xff\xfe\n", nil, ErrSyntax, 1, "UTF-8"},
		{"bare-cr", "a,cat\rb,dog\n", nil, ErrSyntax, 1, "carriage return"},
		{"unterminated", "\"a,cat\n", nil, ErrSyntax, 1, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadLabels(strings.NewReader(tt.in), "labels.csv")
			if tt.err != nil {
				var pe *ParseError
				if !errors.Is(err, tt.err) || !errors.As(err, &pe) || pe.Line != tt.line || pe.File != "labels.csv" ||
					!strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %v at line %d with %q", err, tt.err, tt.line, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !labelsEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteLabelsRoundTrip(t *testing.T) {
	in := []Label{{ID: "train/00001", Label: "T-shirt/top"}, {ID: "a,b", Label: `say "hi"`}, {ID: " lead", Label: "x"}}
	var b bytes.Buffer
	if err := WriteLabels(&b, in); err != nil {
		t.Fatal(err)
	}
	want := "id,label\ntrain/00001,T-shirt/top\n\"a,b\",\"say \"\"hi\"\"\"\n\" lead\",x\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	got, err := ReadLabels(&b, "x")
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if got[i].ID != in[i].ID || got[i].Label != in[i].Label || got[i].Line != i+2 {
			t.Errorf("row %d = %+v, want %+v", i, got[i], in[i])
		}
	}
	for _, bad := range []Label{{ID: "", Label: "x"}, {ID: "a", Label: ""}, {ID: "a\nb", Label: "x"}} {
		if err := WriteLabels(&b, []Label{bad}); !errors.Is(err, ErrSyntax) {
			t.Errorf("WriteLabels(%+v) err = %v, want ErrSyntax", bad, err)
		}
	}
}

func TestResolveLabels(t *testing.T) {
	labels := []Label{{ID: "a", Label: "Bag", Line: 2}, {ID: "b", Label: "Trouser", Line: 3}, {ID: "d", Label: "3", Line: 4}}
	got, err := ResolveLabels(labels, FashionMNISTClasses[:], "l.csv")
	if err != nil || got["a"] != 8 || got["b"] != 1 || got["d"] != 3 || len(got) != 3 {
		t.Errorf("got %v, %v; want a=8 b=1 d=3 (an index)", got, err)
	}
	for _, bad := range []string{"Hat", "10", "-1", "1.0"} {
		_, err = ResolveLabels(append(labels, Label{ID: "c", Label: bad, Line: 7}), FashionMNISTClasses[:], "l.csv")
		var pe *ParseError
		if !errors.Is(err, ErrUnknownLabel) || !errors.As(err, &pe) || pe.Line != 7 || !strings.Contains(err.Error(), `"`+bad+`"`) ||
			!strings.Contains(err.Error(), "Ankle boot") {
			t.Errorf("label %q: err = %v, want ErrUnknownLabel at line 7 listing the classes", bad, err)
		}
	}
}

func FuzzReadLabels(f *testing.F) {
	f.Add("id,label\na,cat\n")
	f.Add("\xef\xbb\xbfa,cat\r\n\r\nb,\"d,og\"\r\n")
	f.Add("a,cat\na,dog\n")
	f.Add("\"a\"\"b\",c\n,x\n")
	f.Fuzz(func(t *testing.T, s string) {
		labels, err := ReadLabels(strings.NewReader(s), "fuzz.csv")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, l := range labels {
			if l.ID == "" || l.Label == "" || seen[l.ID] || l.Line < 1 {
				t.Fatalf("accepted bad label %+v", l)
			}
			seen[l.ID] = true
		}
		var b bytes.Buffer
		if err := WriteLabels(&b, labels); err != nil {
			t.Fatalf("write back: %v", err)
		}
		back, err := ReadLabels(&b, "back.csv")
		if err != nil || len(back) != len(labels) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range labels {
			if back[i].ID != labels[i].ID || back[i].Label != labels[i].Label {
				t.Fatalf("round trip %d: %+v != %+v", i, back[i], labels[i])
			}
		}
	})
}

// labelsEqual compares label lists field by field.
func labelsEqual(a, b []Label) bool {
	return slices.EqualFunc(a, b, func(x, y Label) bool {
		return x.ID == y.ID && x.Label == y.Label && x.Line == y.Line
	})
}
