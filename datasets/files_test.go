package datasets

import (
	"bytes"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// tree writes files (slash paths relative to root) and returns root.
func tree(t *testing.T, root string, files map[string][]byte) string {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestFolder(t *testing.T) {
	small := encodePNG(t, pattern(5, 4))
	outside := tree(t, t.TempDir(), map[string][]byte{"secret.png": small})
	root := tree(t, t.TempDir(), map[string][]byte{
		"cats/a.png":        small,
		"cats/sub/b.JPG":    readFile(t, "testdata/baseline.jpg"),
		"cats/.hidden.png":  small,
		"cats/readme.txt":   []byte("not an image"),
		"cats/.git/x.png":   small,
		"dogs/c.webp":       readFile(t, "testdata/lossy.webp"),
		"dogs/broken.png":   small[:30],
		".cache/d.png":      small,
		"top.png":           small,
		"notes.md":          []byte("x"),
		"zebra/.keep":       nil,
		"empty/zero.jpg":    nil,
		"ants/text.jpeg":    []byte("plain text, jpeg name"),
		"ants/nested/e.gif": small, // PNG bytes with a .gif name: the content decides
	})
	symlink(t, filepath.Join(outside, "secret.png"), filepath.Join(root, "cats", "evil.png"))
	symlink(t, "../cats/a.png", filepath.Join(root, "dogs", "link.png"))
	symlink(t, outside, filepath.Join(root, "cats", "outdir"))
	symlink(t, outside, filepath.Join(root, "linkclass"))

	d, err := Open("folder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantClasses := []string{"ants", "cats", "dogs", "empty", "zebra"}
	if !slices.Equal(d.Classes(), wantClasses) {
		t.Errorf("classes %q, want %q", d.Classes(), wantClasses)
	}
	// Expected samples, sorted by ID, with the expected outcome of Image.
	want := []struct {
		id    string
		label int
		err   error
		w, h  int
	}{
		{"ants/nested/e.gif", 0, nil, 5, 4},
		{"ants/text.jpeg", 0, ErrUnsupportedFormat, 0, 0},
		{"cats/a.png", 1, nil, 5, 4},
		{"cats/evil.png", 1, ErrOutsideRoot, 0, 0},
		{"cats/sub/b.JPG", 1, nil, 96, 68},
		{"dogs/broken.png", 2, ErrTruncated, 0, 0},
		{"dogs/c.webp", 2, nil, 60, 40},
		{"dogs/link.png", 2, nil, 5, 4},
		{"empty/zero.jpg", 3, ErrEmpty, 0, 0},
		{"top.png", -1, nil, 5, 4},
	}
	if d.Len() != len(want) {
		var ids []string
		for i := range d.Len() {
			ids = append(ids, d.Sample(i).ID)
		}
		t.Fatalf("samples %q, want %d", ids, len(want))
	}
	for i, w := range want {
		s := d.Sample(i)
		if s.ID != w.id || s.Label != w.label || s.Row != 0 || s.Path != filepath.Join(root, filepath.FromSlash(w.id)) {
			t.Errorf("sample %d = %+v, want %s label %d", i, s, w.id, w.label)
			continue
		}
		img, err := d.Image(i)
		if w.err != nil {
			var se *SampleError
			if !errors.Is(err, w.err) || !errors.As(err, &se) || se.ID != w.id || !strings.Contains(err.Error(), s.Path) {
				t.Errorf("%s: err = %v, want a *SampleError naming the path, wrapping %v", w.id, err, w.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", w.id, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != w.w || b.Dy() != w.h {
			t.Errorf("%s: size %v, want %dx%d", w.id, b, w.w, w.h)
		}
	}

	// Identity: same tree, same identity; a changed file size changes it; a changed mtime does not.
	d2, _ := Open("folder:"+root, Options{})
	if d2.Identity() != d.Identity() {
		t.Error("identity changed between two opens")
	}
	os.WriteFile(filepath.Join(root, "top.png"), append(bytes.Clone(small), 0), 0o644)
	d3, _ := Open("folder:"+root, Options{})
	if d3.Identity() == d.Identity() {
		t.Error("identity unchanged after a file grew")
	}
}

func TestFolderSymlinkSwappedAfterOpen(t *testing.T) {
	small := encodePNG(t, pattern(3, 3))
	outside := tree(t, t.TempDir(), map[string][]byte{"s.png": small})
	root := tree(t, t.TempDir(), map[string][]byte{"c/a.png": small})
	d, err := Open("folder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "c", "a.png")
	os.Remove(p)
	symlink(t, filepath.Join(outside, "s.png"), p)
	if _, err := d.Image(0); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("err = %v, want ErrOutsideRoot", err)
	}
	os.Remove(p)
	if _, err := d.Image(0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted file: err = %v, want ErrNotFound", err)
	}
}

func TestOpenBadSpecs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.png")
	os.WriteFile(file, nil, 0o644)
	// A folder with no image anywhere, and a manifest with only its header.
	noImages := t.TempDir()
	os.WriteFile(filepath.Join(noImages, "notes.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(noImages, "cats"), 0o755)
	os.WriteFile(filepath.Join(noImages, "cats", ".hidden.jpg"), []byte("x"), 0o644)
	headerOnly := filepath.Join(t.TempDir(), "m.csv")
	os.WriteFile(headerOnly, []byte("path,label\n\n"), 0o644)
	for _, tt := range []struct {
		spec string
		want error
	}{
		{"", ErrBadSpec},
		{"folder:", ErrBadSpec},
		{"nope:x", ErrBadSpec},
		{"folder:/nonexistent/asvp", ErrNotFound},
		{"folder:" + file, ErrBadSpec},
		{"csv:/nonexistent/asvp.csv", ErrNotFound},
		{"folder:" + noImages, ErrNoSamples},
		{"csv:" + headerOnly, ErrNoSamples},
	} {
		if _, err := Open(tt.spec, Options{}); !errors.Is(err, tt.want) {
			t.Errorf("Open(%q) err = %v, want %v", tt.spec, err, tt.want)
		}
	}
}

func TestManifest(t *testing.T) {
	small := encodePNG(t, pattern(4, 3))
	outside := tree(t, t.TempDir(), map[string][]byte{"x.png": small})
	root := tree(t, t.TempDir(), map[string][]byte{
		"img/a.png": small, "img/b.png": small, "c.png": small, "sub/d.png": small,
	})
	os.Mkdir(filepath.Join(root, "adir"), 0o755)
	symlink(t, filepath.Join(outside, "x.png"), filepath.Join(root, "escape.png"))
	abs := filepath.Join(root, "c.png")
	long := "img/" + strings.Repeat("a", 10<<20) + ".png,cat\n"
	tests := []struct {
		name     string
		manifest string
		want     error
		line     int
		msg      string
		ids      []string
		labels   []int
		classes  []string
	}{
		{"header-bom-crlf", "\xef\xbb\xbfpath,label\r\nimg/a.png,dog\r\n\r\n./img/b.png,cat\r\nc.png,\r\nsub/../sub/d.png , dog \r\n", nil, 0, "",
			[]string{"img/a.png", "img/b.png", "c.png", "sub/d.png"}, []int{1, 0, -1, 1}, []string{"cat", "dog"}},
		{"no-header-no-labels", "c.png\nimg/a.png\n", nil, 0, "", []string{"c.png", "img/a.png"}, []int{-1, -1}, nil},
		{"quoted", "\"img/a.png\",\"big, cat\"\n", nil, 0, "", []string{"img/a.png"}, []int{0}, []string{"big, cat"}},
		{"missing-file", "path,label\nimg/a.png,x\nimg/nope.png,x\n", ErrNotFound, 3, "nope.png", nil, nil, nil},
		{"duplicate", "img/a.png,x\nc.png,y\n./img//a.png,x\n", ErrDuplicate, 3, "already on line 1", nil, nil, nil},
		{"dotdot-escape", "img/a.png\nimg/../../x.png\n", ErrOutsideRoot, 2, "leaves", nil, nil, nil},
		{"absolute", abs + ",x\n", ErrOutsideRoot, 1, "absolute path", nil, nil, nil},
		{"symlink-escape", "escape.png,x\n", ErrOutsideRoot, 1, "outside", nil, nil, nil},
		{"folder", "adir,x\n", ErrSyntax, 1, "not a regular file", nil, nil, nil},
		{"too-many-fields", "img/a.png,x,y\n", ErrSyntax, 1, "too many fields", nil, nil, nil},
		{"empty-path", "img/a.png,x\n,x\n", ErrSyntax, 2, "empty path", nil, nil, nil},
		{"huge-line", "c.png,x\n" + long, ErrLineTooLong, 2, "65536", nil, nil, nil},
		{"bad-quote", "img/a\"b.png,x\n", ErrSyntax, 1, "quote", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(root, tt.name+".csv")
			if err := os.WriteFile(file, []byte(tt.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := Open("csv:"+file, Options{})
			if tt.want != nil {
				var pe *ParseError
				if !errors.Is(err, tt.want) || !errors.As(err, &pe) || pe.Line != tt.line || pe.File != file ||
					!strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %v at %s:%d with %q", err, tt.want, file, tt.line, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Classes(), tt.classes) {
				t.Errorf("classes %q, want %q", d.Classes(), tt.classes)
			}
			if d.Len() != len(tt.ids) {
				t.Fatalf("len %d, want %d", d.Len(), len(tt.ids))
			}
			for i := range tt.ids {
				s := d.Sample(i)
				if s.ID != tt.ids[i] || s.Label != tt.labels[i] || s.Path != filepath.Join(root, tt.ids[i]) {
					t.Errorf("sample %d = %+v, want %s label %d", i, s, tt.ids[i], tt.labels[i])
				}
				if img, err := d.Image(i); err != nil || img.Bounds() != image.Rect(0, 0, 4, 3) {
					t.Errorf("image %d: %v", i, err)
				}
			}
		})
	}
}

func TestManifestRowsInErrorsAndIdentity(t *testing.T) {
	small := encodePNG(t, pattern(4, 3))
	root := tree(t, t.TempDir(), map[string][]byte{"a.png": small, "b.png": small[:40], "c.png": small})
	file := filepath.Join(root, "m.csv")
	os.WriteFile(file, []byte("path,label\na.png,x\nb.png,y\n"), 0o644)
	d, err := Open("csv:"+file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Image(1)
	var se *SampleError
	if !errors.As(err, &se) || se.Row != 3 || se.ID != "b.png" || !errors.Is(err, ErrTruncated) ||
		!strings.Contains(err.Error(), "manifest row 3") {
		t.Errorf("err = %v, want a SampleError at row 3 wrapping ErrTruncated", err)
	}
	// Relabeling keeps the identity; another file changes it.
	os.WriteFile(file, []byte("a.png,z\nb.png\n"), 0o644)
	d2, _ := Open("csv:"+file, Options{})
	os.WriteFile(file, []byte("a.png,z\nc.png\n"), 0o644)
	d3, _ := Open("csv:"+file, Options{})
	if d2.Identity() != d.Identity() || d3.Identity() == d.Identity() {
		t.Errorf("identities %s %s %s: want relabel equal, other file different", d.Identity(), d2.Identity(), d3.Identity())
	}
}

func TestManifestWriteRoundTrip(t *testing.T) {
	rows := []ManifestRow{{Path: "a b/c.png", Label: "x"}, {Path: "d,e.png", Label: ""}, {Path: "q\"uote.png", Label: " sp "}}
	var b bytes.Buffer
	if err := WriteManifest(&b, rows); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(&b, "m.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if got[i].Path != rows[i].Path || got[i].Label != rows[i].Label || got[i].Line != i+2 {
			t.Errorf("row %d = %+v, want %+v", i, got[i], rows[i])
		}
	}
	if err := WriteManifest(&b, []ManifestRow{{Path: "a\nb"}}); !errors.Is(err, ErrSyntax) {
		t.Errorf("line break: err = %v", err)
	}
}

func TestFileImageConcurrent(t *testing.T) {
	files := map[string][]byte{}
	for i := range 12 {
		files[string(rune('a'+i))+"/x.png"] = encodePNG(t, pattern(3+i, 2+i))
	}
	root := tree(t, t.TempDir(), files)
	d, err := Open("folder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range d.Len() {
				img, err := d.Image(i)
				if err != nil || img.Bounds() != image.Rect(0, 0, 3+i, 2+i) {
					t.Errorf("image %d: %v %v", i, err, img)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzReadManifest(f *testing.F) {
	f.Add("path,label\na.png,cat\nb/c.png,\n")
	f.Add("\xef\xbb\xbfa.png\r\n\r\n./a.png\r\n")
	f.Add("\"x,y.png\",\"l\"\"q\"\n../a.png\n/abs.png\n")
	f.Add("a.png,b,c\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ReadManifest(strings.NewReader(s), "fuzz.csv")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.csv" {
				t.Fatalf("error %v is not a *ParseError for the file", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.Path == "" || strings.HasPrefix(r.Path, "/") || r.Path == ".." || strings.HasPrefix(r.Path, "../") || seen[r.Path] {
				t.Fatalf("accepted bad row %+v", r)
			}
			seen[r.Path] = true
		}
		var b bytes.Buffer
		if err := WriteManifest(&b, rows); err != nil {
			t.Fatalf("write back: %v", err)
		}
		back, err := ReadManifest(&b, "back.csv")
		if err != nil || len(back) != len(rows) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range rows {
			if back[i].Path != rows[i].Path || back[i].Label != rows[i].Label {
				t.Fatalf("round trip row %d: %+v != %+v", i, back[i], rows[i])
			}
		}
	})
}

func TestErrorMessagesHavePrefixOnce(t *testing.T) {
	root := tree(t, t.TempDir(), map[string][]byte{"a/x.jpg": []byte("hello"), "m.csv": []byte("a/x.jpg,c\n../y.png,d\n")})
	folder, err := Open("folder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, imgErr := folder.Image(0)
	_, openCSV := Open("csv:"+filepath.Join(root, "m.csv"), Options{})
	_, badKind := Open("nope:x", Options{})
	_, badSplit := Open("fashion-mnist:x", Options{})
	_, missing := Open("fashion-mnist:train", Options{FashionMNISTDir: root})
	_, idxErr := ReadIDX(bytes.NewReader([]byte{1, 2, 3, 4}), 0)
	_, decErr := Decode(bytes.NewReader(nil), "z.png", 0)
	writeErr := WriteLabels(&bytes.Buffer{}, []Label{{ID: "", Label: "x"}})
	_, labErr := ReadLabels(strings.NewReader("a,b,c"), "l.csv")
	for i, err := range []error{imgErr, openCSV, badKind, badSplit, missing, idxErr, decErr, writeErr, labErr} {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "datasets: ") || strings.Count(msg, "datasets:") != 1 {
			t.Errorf("case %d: message %q wants the package prefix exactly once", i, msg)
		}
	}
}
