package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/loop"
)

// hostilePNG encodes img as PNG.
func hostilePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gradient fills a w x h image through set with a colour pattern.
func gradient(w, h int, set func(x, y int, r, g, b uint8)) {
	for y := range h {
		for x := range w {
			set(x, y, uint8(x*255/w), uint8(y*255/h), uint8((x+y)*127/(w+h)))
		}
	}
}

// bombPNGBytes is a ~70-byte PNG whose valid header (correct CRCs) claims
// w x h RGB pixels: 30 GB once decoded.
func bombPNGBytes(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	var ihdr bytes.Buffer
	binary.Write(&ihdr, binary.BigEndian, w)
	binary.Write(&ihdr, binary.BigEndian, h)
	ihdr.Write([]byte{8, 2, 0, 0, 0}) // depth 8, RGB, deflate, no filter, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr.Bytes())...)
	b = append(b, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(b, chunk("IEND", nil)...)
}

// hostileImages returns the odd but valid images (by name) and the broken
// files (by name, with a phrase their recorded reason must hold).
func hostileImages(t *testing.T) (good map[string][]byte, bad map[string][]byte, why map[string]string) {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const w, h = 48, 40
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	alpha := image.NewNRGBA(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	gradient(w, h, func(x, y int, r, g, b uint8) {
		gray16.SetGray16(x, y, color.Gray16{Y: uint16(r)<<8 | uint16(g)})
		rgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(r) * 257, uint16(g) * 257, uint16(b)*257 + 1, 0xffff})
		alpha.SetNRGBA(x, y, color.NRGBA{r, g, b, uint8(x * 255 / w)}) // fades from transparent
		pal.Set(x, y, color.RGBA{r, g, b, 255})
	})
	frame := func(c uint8) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}})
		for i := range p.Pix {
			p.Pix[i] = c
		}
		return p
	}
	var anim bytes.Buffer
	if err := gif.EncodeAll(&anim, &gif.GIF{Image: []*image.Paletted{frame(0), frame(1), frame(0)}, Delay: []int{10, 10, 10}}); err != nil {
		t.Fatal(err)
	}
	rocket := read("../../testdata/photos/rocket.jpg")
	chelsea := read("../../testdata/photos/chelsea.png")
	good = map[string][]byte{
		"cats/astronaut.png": read("../../testdata/photos/astronaut.png"),
		"cats/chelsea.png":   chelsea,
		"cats/alpha.png":     hostilePNG(t, alpha),
		"cats/anim.gif":      anim.Bytes(),
		"dogs/rocket.jpg":    rocket,
		"dogs/coffee.png":    read("../../testdata/photos/coffee.png"),
		"dogs/cmyk.jpeg":     read("../../datasets/testdata/cmyk.jpeg"),
		"dogs/gray16.png":    hostilePNG(t, gray16),
		"dogs/rgba64.png":    hostilePNG(t, rgba64),
		"dogs/palette.png":   hostilePNG(t, pal),
	}
	bad = map[string][]byte{
		"cats/truncated.jpg": rocket[:len(rocket)/2],
		"dogs/truncated.png": chelsea[:len(chelsea)/2],
		"cats/zero.jpg":      {},
		"dogs/text.jpg":      []byte("this is a text file, not a JPEG\n"),
		"dogs/bomb.png":      bombPNGBytes(100000, 100000),
	}
	why = map[string]string{
		"cats/truncated.jpg": "truncated",
		"dogs/truncated.png": "truncated",
		"cats/zero.jpg":      "empty",
		"dogs/text.jpg":      "unsupported image format",
		"dogs/bomb.png":      "100000x100000",
		"cats/escape.png":    "leaves the dataset folder", // a symbolic link, made by the caller
	}
	return good, bad, why
}

// writeTree writes files (relative path -> bytes) under root.
func writeTree(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for rel, b := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExtractHostileFolder extracts a folder dataset of real photos, odd
// but valid images and hostile files through the CLI: the run succeeds,
// every good file is cached, every bad file is recorded with its path and
// a reason, a rerun extracts nothing again, and --on-error fail stops with a
// message naming the first bad file.
func TestExtractHostileFolder(t *testing.T) {
	good, bad, why := hostileImages(t)
	root := filepath.Join(t.TempDir(), "data")
	outside := t.TempDir()
	writeTree(t, root, good)
	writeTree(t, root, bad)
	writeTree(t, outside, map[string][]byte{"secret.png": good["cats/alpha.png"], "more/x.png": good["cats/alpha.png"]})
	for link, target := range map[string]string{
		"cats/escape.png": filepath.Join(outside, "secret.png"), // a file outside the root: refused
		"cats/outdir":     filepath.Join(outside, "more"),       // a folder outside: not listed
		"dogs/inside.png": "../cats/alpha.png",                  // inside the root: a good file
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	good["dogs/inside.png"] = good["cats/alpha.png"]
	bad["cats/escape.png"] = nil
	tried := len(bad) + 1 // the folder symlink too
	t.Logf("hostile folder: %d good files, %d bad inputs", len(good), tried)

	spec := "folder:" + root
	c := filepath.Join(t.TempDir(), "c.asvp")
	args := []string{"extract", "--data", spec, "--cache", c, "--batch", "4", "--quiet"}
	var res loop.ExtractResult
	if err := json.Unmarshal(asvp(t, args...), &res); err != nil {
		t.Fatal(err)
	}
	if res.Samples != len(good)+len(bad) || res.Done != len(good) || res.Failed != len(bad) {
		t.Errorf("extract: %d samples, %d extracted, %d failed; want %d, %d, %d",
			res.Samples, res.Done, res.Failed, len(good)+len(bad), len(good), len(bad))
	}
	asvp(t, "cache", "verify", "--cache", c)

	db, err := cache.Open(c, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	set, err := db.FindSet(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := set.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := slices.Sorted(func(yield func(string) bool) {
		for id := range good {
			if !yield(id) {
				return
			}
		}
	})
	if got := slices.Sorted(slices.Values(m.IDs)); !slices.Equal(got, wantIDs) {
		t.Errorf("cached IDs %q, want the good files %q", got, wantIDs)
	}
	for i, id := range m.IDs {
		if strings.HasPrefix(id, "cats/outdir") {
			t.Errorf("%s: a file behind a symbolic link to a folder outside the root was extracted", id)
		}
		for _, v := range m.Row(i) {
			if v != v || v > 1e30 || v < -1e30 {
				t.Fatalf("%s: feature %v", id, v)
			}
		}
	}
	errs, err := set.Errors(0)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]cache.SampleError{}
	for _, e := range errs {
		recorded[e.ID] = e
	}
	for id := range bad {
		e, ok := recorded[id]
		switch {
		case !ok:
			t.Errorf("%s: no error recorded", id)
		case e.Path != filepath.Join(root, filepath.FromSlash(id)):
			t.Errorf("%s: recorded path %q, want %q", id, e.Path, filepath.Join(root, id))
		case !strings.Contains(e.Reason, why[id]):
			t.Errorf("%s: reason %q, want it to say %q", id, e.Reason, why[id])
		default:
			t.Logf("%s: %s", id, e.Reason)
		}
	}
	if len(recorded) != len(bad) {
		t.Errorf("%d errors recorded, want %d", len(recorded), len(bad))
	}

	// A rerun finds everything done, the failures included.
	var again loop.ExtractResult
	if err := json.Unmarshal(asvp(t, args...), &again); err != nil {
		t.Fatal(err)
	}
	if again.Done != 0 || again.Failed != 0 || again.Cached != len(good)+len(bad) {
		t.Errorf("rerun: %d extracted, %d failed, %d already cached; want 0, 0, %d", again.Done, again.Failed, again.Cached, len(good)+len(bad))
	}

	// --on-error fail: exit code 1, naming the first bad file in dataset (ID) order.
	all := append(slices.Collect(func(yield func(string) bool) {
		for id := range bad {
			if !yield(id) {
				return
			}
		}
	}), wantIDs...)
	slices.Sort(all)
	var first string
	for _, id := range all {
		if _, isBad := bad[id]; isBad {
			first = id
			break
		}
	}
	_, stderr, err := asvpRun("extract", "--data", spec, "--cache", filepath.Join(t.TempDir(), "f.asvp"), "--batch", "4", "--quiet", "--on-error", "fail")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("--on-error fail: %v, want exit code 1\n%s", err, stderr)
	}
	if p := filepath.Join(root, filepath.FromSlash(first)); !strings.Contains(stderr, p) || !strings.Contains(stderr, why[first]) {
		t.Errorf("--on-error fail: stderr %q does not name the first bad file %s and %q", stderr, p, why[first])
	}
}

// TestExtractHostileManifest runs extract on CSV manifests through the CLI:
// a missing file, a path leaving the root, a duplicate row and a symbolic
// link leaving the root each fail with exit code 1 and FILE:LINE; a manifest
// with a byte-order mark and CRLF line ends works.
func TestExtractHostileManifest(t *testing.T) {
	good, _, _ := hostileImages(t)
	root := t.TempDir()
	outside := t.TempDir()
	writeTree(t, root, map[string][]byte{"img/a.png": good["cats/alpha.png"], "img/b.gif": good["cats/anim.gif"], "c.png": good["dogs/palette.png"]})
	writeTree(t, outside, map[string][]byte{"x.png": good["cats/alpha.png"]})
	if err := os.Symlink(filepath.Join(outside, "x.png"), filepath.Join(root, "escape.png")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, filepath.Join(outside, "x.png"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, manifest string
		line           int
		msg            string
	}{
		{"missing-file", "path,label\nimg/a.png,cat\nimg/nope.png,dog\n", 3, "nope.png"},
		{"dotdot-escape", "img/a.png,cat\n" + filepath.ToSlash(rel) + ",dog\n", 2, "leaves"},
		{"symlink-escape", "img/a.png,cat\nc.png,dog\nescape.png,dog\n", 3, "outside"},
		{"duplicate", "img/a.png,cat\nc.png,dog\n./img//a.png,cat\n", 3, "already on line 1"},
		{"too-many-fields", "img/a.png,cat\nc.png,dog,extra\n", 2, "too many fields"},
		{"bom-crlf", "\xef\xbb\xbfpath,label\r\nimg/a.png,cat\r\n\r\nimg/b.gif,dog\r\nc.png,cat\r\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(root, tt.name+".csv")
			if err := os.WriteFile(file, []byte(tt.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			c := filepath.Join(t.TempDir(), "c.asvp")
			stdout, stderr, err := asvpRun("extract", "--data", "csv:"+file, "--cache", c, "--quiet")
			if tt.line == 0 {
				if err != nil {
					t.Fatalf("%v\n%s", err, stderr)
				}
				var res loop.ExtractResult
				if err := json.Unmarshal(stdout, &res); err != nil || res.Done != 3 || res.Failed != 0 {
					t.Fatalf("result %+v (%v), want 3 extracted", res, err)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("err %v, want exit code 1\n%s", err, stderr)
			}
			if where := fmt.Sprintf("%s:%d", file, tt.line); !strings.Contains(stderr, where) || !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr %q, want %s and %q", stderr, where, tt.msg)
			}
			if _, err := os.Stat(c); err == nil {
				t.Errorf("a cache file was created for a manifest that fails")
			}
		})
	}
}

// TestFinetuneHostileLabels gives `asvp finetune` hostile labeled files:
// each fails with exit code 1 and names FILE:LINE; a file with a byte-order
// mark, CRLF line ends and blank lines works, and so does a class name the
// dataset does not know (a new class).
func TestFinetuneHostileLabels(t *testing.T) {
	c := crashFixture(t)
	dir := t.TempDir()
	tests := []struct {
		name, labels string
		line         int
		msg          string
	}{
		{"duplicate-id", "id,label\ntrain/00000,1\ntrain/00001,2\ntrain/00000,1\n", 4, "already labeled on line 2"},
		{"index-out-of-range", "train/00000,1\ntrain/00001,10\n", 2, "is not a class index 0..9"},
		{"a new class name", "train/00000,1\ntrain/00001,Unicorn\n", 0, ""}, // names are open-ended
		{"empty-label", "train/00000,1\ntrain/00001,\n", 2, "empty label"},
		{"too-many-fields", "train/00000,1\ntrain/00001,2,3\n", 2, "too many fields"},
		{"bad-quote", "train/00000,1\ntrain/0\"0001,2\n", 2, "quote"},
		{"bom-crlf", "\xef\xbb\xbfid,label\r\ntrain/00000,Trouser\r\n\r\ntrain/00001,3\r\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.name+".csv")
			if err := os.WriteFile(file, []byte(tt.labels), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, err := asvpRun("finetune", "--cache", c, "--data", crashPool, "--labeled", file, "--no-write", "--epochs", "1")
			if tt.line == 0 {
				if err != nil {
					t.Fatalf("%v\n%s", err, stderr)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("err %v, want exit code 1\n%s", err, stderr)
			}
			if where := fmt.Sprintf("%s:%d", file, tt.line); !strings.Contains(stderr, where) || !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr %q, want %s and %q", stderr, where, tt.msg)
			}
		})
	}
}

// TestReadOnlyAndFullDisk checks the two ways a cache cannot be written.
// Full disk: extract under a 1-2 MB file-size limit (RLIMIT_FSIZE, which
// makes writes fail with EFBIG like a full disk) stops with a clear error,
// leaves a cache that verifies and holds only whole batches, and a rerun
// without the limit completes it, equal bit for bit to an uninterrupted
// extraction. Read-only: a cache file or folder the user cannot write gives
// a clear error and stays unchanged (tests running as root run asvp as
// nobody, since permissions do not stop root).
func TestReadOnlyAndFullDisk(t *testing.T) {
	ref := crashFixture(t) // holds an uninterrupted extraction of the same samples
	t.Run("full-disk", func(t *testing.T) {
		c := filepath.Join(t.TempDir(), "full.asvp")
		args := []string{"extract", "--data", crashTest, "--limit", fmt.Sprint(crashTestN), "--output", crashOutput, "--cache", c, "--quiet"}
		cmd := asvpCmd(args...)
		// 4096 blocks: 2 MiB under dash (512-byte blocks), 4 MiB under
		// bash; a new cache's 16 KiB pages fill 1 MiB before the first batch.
		cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `ulimit -f 4096 && exec "$0" "$@"`, asvpBin}, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("extract under a file-size limit: %v, want exit code 1\n%s", err, stderr.String())
		}
		msg := stderr.String()
		for _, want := range []string{c, "disk full or file size limit reached", "nothing of this write was kept"} {
			if !strings.Contains(msg, want) {
				t.Errorf("stderr %q does not say %q", msg, want)
			}
		}
		asvp(t, "cache", "verify", "--cache", c)
		db, err := cache.Open(c, &cache.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		set, err := db.FindSet(crashTest, crashOutput)
		if err != nil {
			t.Fatal(err)
		}
		n, err := set.Count(0)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n <= 0 || n >= crashTestN || n%32 != 0 {
			t.Errorf("%d samples stored before the disk filled: want whole batches of 32, more than none and fewer than %d", n, crashTestN)
		}
		t.Logf("disk full after %d of %d samples: %s", n, crashTestN, strings.TrimSpace(msg))
		var res loop.ExtractResult
		if err := json.Unmarshal(asvp(t, args...), &res); err != nil {
			t.Fatal(err)
		}
		// The extraction writes one set per output, a transaction each: the
		// disk may fill between them, leaving a later set one batch behind,
		// and a sample counts as cached only once every set holds it.
		if res.Cached+res.Done != crashTestN || res.Cached > n || n-res.Cached > 32 {
			t.Errorf("rerun: %d already cached, %d extracted; want %d in all, %d or one batch fewer cached", res.Cached, res.Done, crashTestN, n)
		}
		asvp(t, "cache", "verify", "--cache", c)
		sameCache(t, c, ref) // every set of the resumed cache equals the uninterrupted one's
	})

	t.Run("read-only", func(t *testing.T) {
		// A world-readable folder, outside t.TempDir()'s private ones, so a
		// process running as nobody can reach the binary and the caches.
		top, err := os.MkdirTemp("", "asvp-readonly-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(top, 0o755); os.Chmod(filepath.Join(top, "ro"), 0o755); os.RemoveAll(top) })
		bin := copyFile(t, asvpBin, filepath.Join(top, "asvp"))
		ro := filepath.Join(top, "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		existing := copyFile(t, ref, filepath.Join(ro, "existing.asvp"))
		for _, p := range []struct {
			path string
			mode os.FileMode
		}{{bin, 0o755}, {existing, 0o444}, {ro, 0o555}, {top, 0o755}} {
			if err := os.Chmod(p.path, p.mode); err != nil {
				t.Fatal(err)
			}
		}
		before, err := os.ReadFile(existing)
		if err != nil {
			t.Fatal(err)
		}
		run := func(args ...string) (string, error) {
			cmd := asvpCmd(args...)
			cmd.Path, cmd.Args[0] = bin, bin
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			return stderr.String(), err
		}
		labeled := filepath.Join(top, "labeled.csv")
		if err := os.WriteFile(labeled, []byte("train/00000,1\ntrain/00001,2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		newFile := filepath.Join(ro, "new.asvp")
		for _, tc := range []struct {
			name string
			args []string
			path string
		}{
			{"extract into a read-only cache file", []string{"extract", "--data", crashTest, "--limit", "64", "--output", crashOutput, "--cache", existing, "--quiet"}, existing},
			{"finetune a read-only cache file", []string{"finetune", "--cache", existing, "--data", crashPool, "--labeled", labeled, "--epochs", "1"}, existing},
			{"extract into a read-only folder", []string{"extract", "--data", crashTest, "--limit", "64", "--output", crashOutput, "--cache", newFile, "--quiet"}, newFile},
		} {
			stderr, err := run(tc.args...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("%s: %v, want exit code 1\n%s", tc.name, err, stderr)
				continue
			}
			if !strings.Contains(stderr, tc.path) || !strings.Contains(stderr, "permission denied") {
				t.Errorf("%s: stderr %q, want it to name %s and say permission denied", tc.name, stderr, tc.path)
			}
			t.Logf("%s: %s", tc.name, strings.TrimSpace(stderr))
		}
		after, err := os.ReadFile(existing)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Error("the read-only cache file changed")
		}
		if _, err := os.Stat(newFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a cache file appeared in the read-only folder: %v", err)
		}
		// Reading a read-only cache still works.
		if stderr, err := run("cache", "verify", "--cache", existing); err != nil {
			t.Errorf("cache verify of a read-only cache: %v\n%s", err, stderr)
		}
	})
}
