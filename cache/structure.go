package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common): a page starts
// with a 16-byte header (id uint64, flags uint16, element count uint16,
// overflow uint32) and a branch or leaf page then holds count elements of
// 16 bytes, each locating its key (and value) by an offset from itself. A
// branch element is (pos, ksize uint32, child page uint64); a leaf element
// is (flags, pos, ksize, vsize uint32). A leaf value flagged as a bucket
// starts with the bucket's root page (uint64) and sequence (uint64); a root
// page of 0 means the bucket's own leaf page follows inline.
const (
	boltPageHeader  = 16
	boltElement     = 16
	boltBucketHead  = 16
	boltBranchFlag  = 0x01
	boltLeafFlag    = 0x02
	boltBucketFlag  = 0x01
	maxTreeDepth    = 32 // a B+tree of 4 KiB pages this deep would hold more than any disk
	maxBucketDepth  = 8  // deeper than any bucket this package makes (sets/KEY/gens/GEN/vec)
	firstDataPageID = 2  // pages 0 and 1 are the meta pages
)

// structCheck walks bbolt's page tree from the file's bytes, read with
// ordinary reads and checked for bounds before use. bbolt itself trusts the
// memory-mapped file: a page count or child pointer gone wrong sends it
// reading outside the mapping (which crashes the program), or round a cycle
// of pages forever. structCheck finds such damage first, so that Verify can
// say where it is and not hand the file to code that would not survive it.
type structCheck struct {
	f        io.ReaderAt
	pageSize int
	pages    uint64          // the high-water mark: pages 0..pages-1 are in use or free
	seen     map[uint64]bool // pages reached so far, overflow pages included
	free     [][]byte        // page buffers for reuse
	report   func(p Problem)
	found    int
	limit    int
}

// checkStructure walks the page tree of tx's file at path and reports what
// is damaged, naming the set and generation when the damage is inside one;
// it returns the number of problems found, which may exceed limit, the most
// it reports.
func checkStructure(tx *bolt.Tx, path string, limit int, report func(Problem)) int {
	c := &structCheck{
		pageSize: tx.DB().Info().PageSize,
		seen:     map[uint64]bool{},
		report:   report,
		limit:    limit,
	}
	c.pages = uint64(tx.Size()) / uint64(c.pageSize)
	f, err := os.Open(path)
	if err != nil {
		c.add(nil, "reading the file: %v", err)
		return c.found
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < tx.Size() {
		c.add(nil, "the file is %d bytes, shorter than the %d bytes its pages take: it was cut short", fi.Size(), tx.Size())
		return c.found
	}
	c.f = f
	c.tree(nil, uint64(tx.Cursor().Bucket().RootPage()), 0)
	c.freelist()
	return c.found
}

// Meta page fields (after the page header: magic, version, page size and
// flags, 4 bytes each, then the root bucket's page and sequence) and the
// freelist page's flag.
const (
	boltMetaFreelist = boltPageHeader + 32 // the freelist's page
	boltMetaTxID     = boltPageHeader + 48
	boltFreelistFlag = 0x10
	boltNoFreelist   = ^uint64(0)
)

// freelist checks the free page list of the newest meta page: every page
// it lists must be a data page, listed once, not used by the tree. bbolt's
// own check lets a listed meta page through, which bbolt then hands out
// as new: its next write fails ("invalid page allocation: 0").
func (c *structCheck) freelist() {
	if c.done() {
		return
	}
	var metas [2][]byte
	for i := range metas {
		metas[i] = make([]byte, boltMetaTxID+8)
		if _, err := c.f.ReadAt(metas[i], int64(i)*int64(c.pageSize)); err != nil {
			c.add(nil, "meta page %d: %v", i, err)
			return
		}
	}
	meta := metas[0]
	if binary.LittleEndian.Uint64(metas[1][boltMetaTxID:]) > binary.LittleEndian.Uint64(meta[boltMetaTxID:]) {
		meta = metas[1]
	}
	id := binary.LittleEndian.Uint64(meta[boltMetaFreelist:])
	switch {
	case id == boltNoFreelist:
		return
	case id < firstDataPageID || id >= c.pages:
		c.add(nil, "the freelist is page %d, outside the data pages %d..%d", id, firstDataPageID, c.pages-1)
		return
	}
	head := make([]byte, boltPageHeader+8)
	if _, err := c.f.ReadAt(head, int64(id)*int64(c.pageSize)); err != nil {
		c.add(nil, "freelist page %d: %v", id, err)
		return
	}
	if flags := binary.LittleEndian.Uint16(head[8:]); flags != boltFreelistFlag {
		c.add(nil, "freelist page %d has flags %#x, not a freelist's", id, flags)
		return
	}
	n, at := uint64(binary.LittleEndian.Uint16(head[10:])), int64(boltPageHeader)
	if n == 0xFFFF { // the count does not fit: the first element holds it
		n, at = binary.LittleEndian.Uint64(head[boltPageHeader:]), boltPageHeader+8
	}
	span := uint64(binary.LittleEndian.Uint32(head[12:])) + 1
	if span > c.pages-id || uint64(at)+8*n > span*uint64(c.pageSize) {
		c.add(nil, "freelist page %d lists %d pages, more than its %d pages hold", id, n, span)
		return
	}
	ids := make([]byte, 8*n)
	if _, err := c.f.ReadAt(ids, int64(id)*int64(c.pageSize)+at); err != nil {
		c.add(nil, "freelist page %d: %v", id, err)
		return
	}
	listed := make(map[uint64]bool, n)
	for k := range n {
		free := binary.LittleEndian.Uint64(ids[8*k:])
		switch {
		case free < firstDataPageID || free >= c.pages:
			c.add(nil, "the freelist (page %d) lists page %d, outside the data pages %d..%d", id, free, firstDataPageID, c.pages-1)
		case listed[free]:
			c.add(nil, "the freelist (page %d) lists page %d twice", id, free)
		case c.seen[free]:
			c.add(nil, "the freelist (page %d) lists page %d, which the tree uses", id, free)
		}
		listed[free] = true
		if c.done() {
			return
		}
	}
}

// add reports a problem found in the bucket at path (nil: the root).
func (c *structCheck) add(path [][]byte, format string, args ...any) {
	c.found++
	if c.found > c.limit {
		return
	}
	p := Problem{Gen: -1}
	if len(path) >= 2 && bytes.Equal(path[0], bucketSets) {
		p.Set = string(path[1])
		if len(path) >= 4 && bytes.Equal(path[2], keyGens) && len(path[3]) == 4 {
			p.Gen = int(binary.BigEndian.Uint32(path[3]))
		}
	}
	p.Msg = "file structure"
	if p.Set == "" && len(path) > 0 {
		names := make([]string, len(path))
		for i, n := range path {
			names[i] = fmt.Sprintf("%q", n)
		}
		p.Msg += " in bucket " + strings.Join(names, "/")
	}
	p.Msg += ": " + fmt.Sprintf(format, args...)
	c.report(p)
}

// done reports whether enough problems were found to stop looking.
func (c *structCheck) done() bool { return c.found > c.limit }

// tree checks the page id, at depth in the B+tree of the bucket at path,
// and every page below it.
func (c *structCheck) tree(path [][]byte, id uint64, depth int) {
	if c.done() {
		return
	}
	switch {
	case depth > maxTreeDepth:
		c.add(path, "page %d: the tree is more than %d levels deep: its pages form a cycle", id, maxTreeDepth)
		return
	case id < firstDataPageID || id >= c.pages:
		c.add(path, "reference to page %d, outside the data pages %d..%d", id, firstDataPageID, c.pages-1)
		return
	case c.seen[id]:
		c.add(path, "page %d is referenced twice", id)
		return
	}
	// Read the first page; the overflow pages, which mostly hold the
	// values of large records, only when an element needs them.
	buf := c.buffer()
	defer c.release(buf)
	if _, err := c.f.ReadAt(buf, int64(id)*int64(c.pageSize)); err != nil {
		c.add(path, "page %d: %v", id, err)
		return
	}
	if got := binary.LittleEndian.Uint64(buf[0:]); got != id {
		c.add(path, "page %d says it is page %d", id, got)
		return
	}
	span := uint64(binary.LittleEndian.Uint32(buf[12:])) + 1
	if span > c.pages-id {
		c.add(path, "page %d claims %d overflow pages, past the last page %d", id, span-1, c.pages-1)
		return
	}
	for i := id; i < id+span; i++ {
		if c.seen[i] {
			c.add(path, "page %d overlaps page %d, referenced elsewhere", id, i)
			return
		}
		c.seen[i] = true
	}
	c.page(path, id, &pageBytes{f: c.f, at: int64(id) * int64(c.pageSize), b: buf, size: int(span) * c.pageSize}, depth)
}

// buffer returns a page-sized buffer, from those released if it can.
func (c *structCheck) buffer() []byte {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return make([]byte, c.pageSize)
}

// release hands b back for reuse once the page it held is done with.
func (c *structCheck) release(b []byte) {
	if cap(b) >= c.pageSize {
		c.free = append(c.free, b[:c.pageSize])
	}
}

// pageBytes is a page of size bytes (overflow included) of which b, read
// from f at offset at, holds the start: upto reads more of it as needed.
// An inline page has f nil and b whole.
type pageBytes struct {
	f    io.ReaderAt
	at   int64
	b    []byte
	size int
}

// upto returns the page's first n bytes, n <= size.
func (p *pageBytes) upto(n int) ([]byte, error) {
	if n <= len(p.b) {
		return p.b[:n], nil
	}
	more := make([]byte, n)
	copy(more, p.b)
	if _, err := p.f.ReadAt(more[len(p.b):], p.at+int64(len(p.b))); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	p.b = more
	return more, nil
}

// page checks the elements of page id (0 for an inline page) at depth in
// its bucket's tree.
func (c *structCheck) page(path [][]byte, id uint64, pb *pageBytes, depth int) {
	where := fmt.Sprintf("page %d", id)
	if id == 0 {
		where = "inline page"
	}
	if pb.size < boltPageHeader {
		c.add(path, "%s of %d bytes, shorter than a page header", where, pb.size)
		return
	}
	buf := pb.b
	flags := binary.LittleEndian.Uint16(buf[8:])
	count := int(binary.LittleEndian.Uint16(buf[10:]))
	if flags != boltBranchFlag && flags != boltLeafFlag {
		c.add(path, "%s has type flags %#x, neither branch nor leaf", where, flags)
		return
	}
	end := boltPageHeader + count*boltElement
	if end > pb.size {
		c.add(path, "%s of %d bytes claims %d elements, more than fit", where, pb.size, count)
		return
	}
	buf, err := pb.upto(end)
	if err != nil {
		c.add(path, "%s: %v", where, err)
		return
	}
	// Every key and value must lie within the page. What bbolt reads when
	// it walks (keys, and the values of bucket entries) is read here too;
	// other values are left unread.
	need := end
	for i := range count {
		e := uint64(boltPageHeader + i*boltElement)
		el := buf[e:]
		var keyEnd, entryEnd uint64
		if flags == boltBranchFlag {
			keyEnd = e + uint64(binary.LittleEndian.Uint32(el[0:])) + uint64(binary.LittleEndian.Uint32(el[4:]))
			entryEnd = keyEnd
		} else {
			keyEnd = e + uint64(binary.LittleEndian.Uint32(el[4:])) + uint64(binary.LittleEndian.Uint32(el[8:]))
			entryEnd = keyEnd + uint64(binary.LittleEndian.Uint32(el[12:]))
			if binary.LittleEndian.Uint32(el[0:])&boltBucketFlag != 0 {
				keyEnd = entryEnd
			}
		}
		if entryEnd > uint64(pb.size) {
			c.add(path, "%s: entry %d of the %d it claims lies outside the page", where, i, count)
			return
		}
		need = max(need, int(keyEnd))
	}
	if buf, err = pb.upto(need); err != nil {
		c.add(path, "%s: %v", where, err)
		return
	}
	for i := range count {
		if c.done() {
			return
		}
		e := boltPageHeader + i*boltElement
		el := buf[e : e+boltElement]
		if flags == boltBranchFlag {
			c.tree(path, binary.LittleEndian.Uint64(el[8:]), depth+1)
			continue
		}
		if binary.LittleEndian.Uint32(el[0:])&boltBucketFlag != 0 {
			at := e + int(binary.LittleEndian.Uint32(el[4:]))
			ksize, vsize := int(binary.LittleEndian.Uint32(el[8:])), int(binary.LittleEndian.Uint32(el[12:]))
			c.bucket(append(path[:len(path):len(path)], buf[at:at+ksize]), buf[at+ksize:at+ksize+vsize])
		}
	}
}

// bucket checks the bucket at path whose stored header and inline page,
// if any, are v.
func (c *structCheck) bucket(path [][]byte, v []byte) {
	switch {
	case len(path) > maxBucketDepth:
		c.add(path[:len(path)-1], "buckets nested more than %d deep: a damaged bucket points back at a parent", maxBucketDepth)
		return
	case len(v) < boltBucketHead:
		c.add(path, "bucket header of %d bytes, want %d", len(v), boltBucketHead)
		return
	}
	if root := binary.LittleEndian.Uint64(v); root != 0 {
		c.tree(path, root, 0)
		return
	}
	inline := v[boltBucketHead:]
	if len(inline) >= boltPageHeader && binary.LittleEndian.Uint16(inline[8:]) != boltLeafFlag {
		c.add(path, "inline page is not a leaf")
		return
	}
	c.page(path, 0, &pageBytes{b: inline, size: len(inline)}, 0)
}
