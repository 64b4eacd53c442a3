package loop

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLabeledSHA256(t *testing.T) {
	a := labelsSHA256(map[string]int{"x": 1, "y": 2})
	if a != labelsSHA256(map[string]int{"y": 2, "x": 1}) {
		t.Fatal("hash depends on map order")
	}
	for _, other := range []map[string]int{{"x": 1, "y": 3}, {"x": 1}, {"x": 1, "y": 2, "z": 0}} {
		if labelsSHA256(other) == a {
			t.Fatalf("%v hashes like {x:1 y:2}", other)
		}
	}
}

// TestReadLabeledOpenClasses checks that labels name classes open-endedly:
// the dataset's classes first, then each new name in the order the file
// first uses it; an index refers to the dataset's classes only.
func TestReadLabeledOpenClasses(t *testing.T) {
	for _, tc := range []struct {
		name, csv   string
		base        []string
		wantClasses []string
		wantClass   []int
		wantNew     []NewClass
		wantErr     string
	}{
		{name: "unlabeled pool", csv: "id,label\na.jpg,dog\nb.jpg,cat\nc.jpg,dog\n",
			wantClasses: []string{"dog", "cat"}, wantClass: []int{0, 1, 0},
			wantNew: []NewClass{{"dog", 2}, {"cat", 3}}},
		{name: "numbers are names without dataset classes", csv: "id,label\na,7\nb,3\n",
			wantClasses: []string{"7", "3"}, wantClass: []int{0, 1}, wantNew: []NewClass{{"7", 2}, {"3", 3}}},
		{name: "a new name after the dataset's", csv: "id,label\npool/photo/dog.jpg,photo\nx,shoe\ny,1\n", base: []string{"bag", "shoe"},
			wantClasses: []string{"bag", "shoe", "photo"}, wantClass: []int{2, 1, 1}, wantNew: []NewClass{{"photo", 2}}},
		{name: "index out of range", csv: "id,label\na,bag\nb,12\n", base: []string{"bag", "shoe"}, wantErr: "labeled.csv:3: unknown label"},
		{name: "empty", csv: "id,label\n", wantErr: "holds no labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "labeled.csv")
			if err := os.WriteFile(path, []byte(tc.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := ReadLabeled(path, tc.base)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Classes, tc.wantClasses) || !slices.Equal(l.Class, tc.wantClass) || !slices.Equal(l.New, tc.wantNew) {
				t.Errorf("classes %q, class %v, new %v; want %q, %v, %v", l.Classes, l.Class, l.New, tc.wantClasses, tc.wantClass, tc.wantNew)
			}
			if err := l.needClasses("x"); err != nil {
				t.Errorf("two classes: %v", err)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "one.csv")
	if err := os.WriteFile(path, []byte("id,label\na,dog\nb,dog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLabeled(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.needClasses("the mlp proxy"); err == nil || !strings.Contains(err.Error(), `all 2 labels are "dog"`) {
		t.Errorf("one class: %v, want it refused", err)
	}
}
