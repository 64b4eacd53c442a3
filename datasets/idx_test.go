package datasets

import (
	"bytes"
	"compress/gzip"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// idxBytes builds an IDX file by hand: magic 00 00 type ndims, big-endian uint32 dims, then data.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadIDX(t *testing.T) {
	good := idxBytes(IDXUint8, []uint32{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	tests := []struct {
		name  string
		data  []byte
		want  error
		also  error
		msg   string
		dims  []int
		first byte
	}{
		{"plain", good, nil, nil, "", []int{2, 2, 3}, 1},
		{"gzip", gz(t, good), nil, nil, "", []int{2, 2, 3}, 1},
		{"int32", idxBytes(IDXInt32, []uint32{2}, make([]byte, 8)), nil, nil, "", []int{2}, 0},
		{"empty", nil, ErrBadIDX, nil, "magic", nil, 0},
		{"bad-magic", []byte{1, 0, 8, 1, 0, 0, 0, 0}, ErrBadIDX, nil, "00 00", nil, 0},
		{"bad-type", idxBytes(0x07, []uint32{1}, []byte{0}), ErrBadIDX, nil, "element type 0x07", nil, 0},
		{"zero-dims", []byte{0, 0, 8, 0}, ErrBadIDX, nil, "zero dimensions", nil, 0},
		{"short-dims", []byte{0, 0, 8, 3, 0, 0, 0, 1}, ErrBadIDX, nil, "dimensions", nil, 0},
		{"short-data", good[:len(good)-1], ErrBadIDX, ErrTruncated, "need 12 data bytes, file has 11", nil, 0},
		{"short-data-gz", gz(t, good[:len(good)-5]), ErrBadIDX, ErrTruncated, "file has 7", nil, 0},
		{"trailing", append(bytes.Clone(good), 0), ErrBadIDX, nil, "file has more", nil, 0},
		{"huge-declared", idxBytes(IDXFloat64, []uint32{0xffffffff, 0xffffffff}, nil), ErrBadIDX, nil, "dimension 0", nil, 0},
		{"over-limit", idxBytes(IDXUint8, []uint32{1 << 30, 1 << 30}, nil), ErrBadIDX, nil, "limit", nil, 0},
		{"bad-gzip", []byte{0x1f, 0x8b, 0, 0}, ErrBadIDX, nil, "gzip", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tt.data), 0)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !equalInts(x.Dims, tt.dims) || len(x.Data) == 0 || x.Data[0] != tt.first {
					t.Errorf("got dims %v first %v, want %v %v", x.Dims, x.Data[:1], tt.dims, tt.first)
				}
				return
			}
			if !errors.Is(err, tt.want) || (tt.also != nil && !errors.Is(err, tt.also)) {
				t.Fatalf("err = %v, want %v and %v", err, tt.want, tt.also)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadIDXShortFileAllocatesLittle(t *testing.T) {
	// Declares 1 GiB of data but holds 10 bytes: memory must follow the bytes present.
	data := idxBytes(IDXUint8, []uint32{1 << 15, 1 << 15}, make([]byte, 10))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadIDX(bytes.NewReader(data), 0); !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
		t.Errorf("allocated %d bytes, want < 1 MiB", a)
	}
}

func TestWriteIDXRoundTrip(t *testing.T) {
	x := &IDX{Type: IDXInt16, Dims: []int{3, 2}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	var b bytes.Buffer
	if err := WriteIDX(&b, x); err != nil {
		t.Fatal(err)
	}
	want := idxBytes(IDXInt16, []uint32{3, 2}, x.Data)
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("wrote % x, want % x", b.Bytes(), want)
	}
	if err := WriteIDX(&b, &IDX{Type: IDXUint8, Dims: []int{3}, Data: []byte{1}}); !errors.Is(err, ErrBadIDX) {
		t.Errorf("mismatched data: err = %v, want ErrBadIDX", err)
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(IDXUint8, []uint32{2, 2, 3}, make([]byte, 12)))
	f.Add(idxBytes(IDXFloat32, []uint32{1}, make([]byte, 4)))
	f.Add(gz(f, idxBytes(IDXUint8, []uint32{1}, []byte{7})))
	f.Add(idxBytes(IDXUint8, []uint32{0xffffffff}, nil))
	f.Add([]byte{0, 0, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ReadIDX(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrBadIDX) {
				t.Fatalf("error %v does not wrap ErrBadIDX", err)
			}
			return
		}
		want := idxElemSize(x.Type)
		for _, d := range x.Dims {
			want *= d
		}
		if want != len(x.Data) {
			t.Fatalf("dims %v type %x with %d data bytes", x.Dims, x.Type, len(x.Data))
		}
		var b bytes.Buffer
		if err := WriteIDX(&b, x); err != nil {
			t.Fatalf("write back: %v", err)
		}
		y, err := ReadIDX(&b, 1<<20)
		if err != nil || !bytes.Equal(y.Data, x.Data) || !equalInts(y.Dims, x.Dims) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// Fashion-MNIST facts computed independently from the gzipped files with Python:
//
//	python3 -c "import gzip; im=gzip.open('train-images-idx3-ubyte.gz').read(); lb=gzip.open('train-labels-idx1-ubyte.gz').read();
//	            print(int.from_bytes(im[4:8],'big'), lb[8], sum(im[16:16+784]), im[16+14*28+14], lb[-1], sum(im[-784:]))"
//
// train: 60000 9 76247 217 5 16684; t10k: 10000 9 33456 110 5 24390.
func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DefaultFashionMNISTDir); err != nil {
		t.Fatalf("Fashion-MNIST missing (%v): install it with `apt-get install dataset-fashion-mnist` or `make setup`", err)
	}
	tests := []struct {
		spec                 string
		n                    int
		firstID              string
		firstLabel, firstSum int
		center               uint8
		lastID               string
		lastLabel, lastSum   int
	}{
		{"fashion-mnist:train", 60000, "train/00000", 9, 76247, 217, "train/59999", 5, 16684},
		{"fashion-mnist:test", 10000, "test/00000", 9, 33456, 110, "test/09999", 5, 24390},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			d, err := Open(tt.spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tt.n || d.Spec() != tt.spec {
				t.Fatalf("Len %d Spec %q, want %d %q", d.Len(), d.Spec(), tt.n, tt.spec)
			}
			if c := d.Classes(); len(c) != 10 || c[0] != "T-shirt/top" || c[9] != "Ankle boot" {
				t.Errorf("classes %q", c)
			}
			check := func(i int, id string, label, sum int) *image.Gray {
				s := d.Sample(i)
				if s.ID != id || s.Label != label || s.Path != "" || s.Row != 0 {
					t.Errorf("sample %d = %+v, want ID %q label %d", i, s, id, label)
				}
				img, err := d.Image(i)
				if err != nil {
					t.Fatal(err)
				}
				g, ok := img.(*image.Gray)
				if !ok || g.Bounds() != image.Rect(0, 0, 28, 28) {
					t.Fatalf("image %T %v, want *image.Gray 28x28", img, img.Bounds())
				}
				got := 0
				for _, p := range g.Pix {
					got += int(p)
				}
				if got != sum {
					t.Errorf("sample %d pixel sum %d, want %d", i, got, sum)
				}
				return g
			}
			if g := check(0, tt.firstID, tt.firstLabel, tt.firstSum); g.GrayAt(14, 14).Y != tt.center {
				t.Errorf("pixel (14,14) = %d, want %d", g.GrayAt(14, 14).Y, tt.center)
			}
			check(tt.n-1, tt.lastID, tt.lastLabel, tt.lastSum)
			ids[tt.spec] = d.Identity()
			if len(d.Identity()) != 64 {
				t.Errorf("identity %q is not a hex SHA-256", d.Identity())
			}
		})
	}
	if ids["fashion-mnist:train"] == ids["fashion-mnist:test"] {
		t.Error("train and test share an identity")
	}
	again, err := Open("fashion-mnist:test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Identity() != ids["fashion-mnist:test"] {
		t.Error("identity changed between two opens")
	}
}

func TestFashionMNISTMissing(t *testing.T) {
	_, err := Open("fashion-mnist:train", Options{FashionMNISTDir: t.TempDir()})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") ||
		!strings.Contains(err.Error(), "make setup") {
		t.Errorf("err = %v, want ErrNotFound with the install hint", err)
	}
	if _, err := Open("fashion-mnist:valid", Options{}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("bad split: err = %v, want ErrBadSpec", err)
	}
}

func TestIDXDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Two sets: "a" (gzipped, labels 0..11 so 12 classes) and "b.x" (plain, MNIST's dotted naming, no labels).
	pixA := make([]byte, 12*2*3)
	for i := range pixA {
		pixA[i] = uint8(i)
	}
	labA := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	write("a-images-idx3-ubyte.gz", gz(t, idxBytes(IDXUint8, []uint32{12, 2, 3}, pixA)))
	write("a-labels-idx1-ubyte.gz", gz(t, idxBytes(IDXUint8, []uint32{12}, labA)))
	write("b.x-images.idx3-ubyte", idxBytes(IDXUint8, []uint32{1, 1, 1}, []byte{200}))
	write("bad-images-idx3-ubyte", idxBytes(IDXUint8, []uint32{2, 2}, make([]byte, 4)))
	write("c-images-idx3-ubyte", idxBytes(IDXUint8, []uint32{2, 1, 1}, []byte{1, 2}))
	write("c-labels-idx1-ubyte", idxBytes(IDXUint8, []uint32{3}, []byte{1, 2, 3}))

	d, err := Open("idx:"+dir+":a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 12 || len(d.Classes()) != 12 || d.Classes()[11] != "11" || d.Sample(11).Label != 11 || d.Sample(3).ID != "a/00003" {
		t.Errorf("idx a: len %d classes %q sample %+v", d.Len(), d.Classes(), d.Sample(11))
	}
	img, _ := d.Image(1)
	if g := img.(*image.Gray); g.Bounds() != image.Rect(0, 0, 3, 2) || g.GrayAt(2, 1).Y != 6+5 {
		t.Errorf("image 1 = %v %v, want 3x2 with pixel (2,1) = 11", g.Bounds(), g.Pix)
	}
	d, err = Open("idx:"+dir+":b.x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 1 || d.Sample(0).Label != -1 || len(d.Classes()) != 10 || d.Sample(0).ID != "b-x/00000" {
		t.Errorf("idx b.x: len %d sample %+v classes %q", d.Len(), d.Sample(0), d.Classes())
	}
	for _, tt := range []struct {
		spec string
		want error
		msg  string
	}{
		{"idx:" + dir, ErrBadSpec, "a, b-x, bad, c"},
		{"idx:" + dir + ":zzz", ErrNotFound, `no IDX prefix "zzz"`},
		{"idx:" + dir + ":bad", ErrBadIDX, "3 dimensions"},
		{"idx:" + dir + ":c", ErrBadIDX, "3 labels for 2 images"},
		{"idx:" + t.TempDir(), ErrNotFound, "no IDX image file"},
		{"idx:/nonexistent/asvp", ErrNotFound, "does not exist"},
	} {
		if _, err := Open(tt.spec, Options{}); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Open(%q) err = %v, want %v with %q", tt.spec, err, tt.want, tt.msg)
		}
	}
}

func TestIDXImageConcurrent(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 50*4*4)
	for i := range pix {
		pix[i] = uint8(i * 7)
	}
	os.WriteFile(filepath.Join(dir, "z-images-idx3-ubyte"), idxBytes(IDXUint8, []uint32{50, 4, 4}, pix), 0o644)
	d, err := Open("idx:"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range d.Len() {
				img, err := d.Image(i)
				if err != nil || !bytes.Equal(img.(*image.Gray).Pix, pix[i*16:(i+1)*16]) {
					t.Errorf("image %d wrong (%v)", i, err)
				}
				img.(*image.Gray).Pix[0] = 0 // callers own their copy
			}
		})
	}
	wg.Wait()
}
