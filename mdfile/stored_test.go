package mdfile

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// storedCases are images of one 512-byte page and what the metadata file
// must store of them: head bytes from the start, tail bytes from the end.
func storedCases() []struct {
	name       string
	img        []byte
	head, tail int
} {
	page := func(set map[int]byte) []byte {
		b := make([]byte, 512)
		for i, v := range set {
			b[i] = v
		}
		return b
	}
	full := make([]byte, 512)
	for i := range full {
		full[i] = byte(i%251 + 1)
	}
	return []struct {
		name       string
		img        []byte
		head, tail int
	}{
		{"all zeros", page(nil), 0, 0},
		{"zero tail", page(map[int]byte{0: 1, 138: 7}), 139, 0},
		{"checksum at the end", page(map[int]byte{0: 1, 40: 2, 504: 9, 511: 3}), 41, 8},
		{"only the last byte", page(map[int]byte{511: 5}), 0, 1},
		{"no zeros", full, 512, 0},
		{"two runs, the longer second", page(map[int]byte{0: 1, 20: 1, 100: 1}), 101, 0},
		{"two runs, the longer first", page(map[int]byte{0: 1, 400: 1, 500: 1}), 501, 0}, // the last run
		{"zeros before a checksum, then a longer run", page(map[int]byte{0: 1, 8: 1, 200: 2, 511: 3}), 201, 1},
		{"short zero runs only", func() []byte { b := bytes.Clone(full); b[3], b[4], b[511] = 0, 0, 0; return b }(), 511, 0},
	}
}

func TestZeroRun(t *testing.T) {
	for _, c := range storedCases() {
		if h, tl := zeroRun(c.img); h != c.head || tl != c.tail {
			t.Errorf("%s: stores %d + %d bytes, want %d + %d", c.name, h, tl, c.head, c.tail)
		}
	}
}

// TestStoredImagesRoundTrip: every kind of image goes through the writer
// stored as the head and tail zeroRun finds, packed in one run of the
// file, and comes back whole to a reader.
func TestStoredImagesRoundTrip(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, ReservedPages: 4})
	cases := storedCases()
	var imgs []Image
	for i, c := range cases {
		imgs = append(imgs, Image{Page: uint64(i) * 2, Data: c.img})
	}
	rng := rand.New(rand.NewPCG(7, 7))
	big := make([]byte, 3*512) // multi-page, random bytes around a zero run
	for i := range 100 {
		big[i], big[len(big)-1-i] = byte(rng.IntN(255)+1), byte(rng.IntN(255)+1)
	}
	imgs = append(imgs, Image{Page: 100, Data: big})
	if err := w.Update(1, imgs, nil); err != nil {
		t.Fatal(err)
	}
	if w.Stats().LastBytes > 4096 {
		t.Errorf("an end of tick of %d mostly-zero pages wrote %d bytes", len(imgs), w.Stats().LastBytes)
	}
	r := mustOpen(t, path)
	for i, img := range imgs {
		e, ok := r.Current().Find(img.Page)
		if !ok {
			t.Fatalf("page %d not in the index", img.Page)
		}
		if i < len(cases) && (e.Stored != uint64(cases[i].head+cases[i].tail) || e.Tail != uint64(cases[i].tail)) {
			t.Errorf("%s: entry stores %d bytes, %d of them the tail", cases[i].name, e.Stored, e.Tail)
		}
		got := bytes.Repeat([]byte{0xee}, len(img.Data)) // a dirty buffer: the zeros must be restored
		if err := r.ReadImage(e, got); err != nil {
			t.Fatalf("page %d: %v", img.Page, err)
		}
		if !bytes.Equal(got, img.Data) {
			t.Fatalf("page %d: read back different bytes", img.Page)
		}
	}
}

// TestStoredLengthLies: a reader given an entry whose stored length or
// tail lies, or that stores more than the image, reports corruption and
// never returns the bytes: through ReadImage with a forged entry (what a
// bad message could carry), and from a file whose index page was
// rewritten, checksums and all, to lie.
func TestStoredLengthLies(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, ReservedPages: 4})
	img := testImage(5, 1, 1, 512) // 32 bytes, zeros, 16 bytes
	if err := w.Update(1, []Image{{Page: 5, Data: img}, {Page: 9, Data: testImage(9, 1, 1, 512)}}, nil); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	e, _ := r.Current().Find(5)
	if e.Stored >= e.Length || e.Tail == 0 {
		t.Fatalf("entry %+v does not store head and tail", e)
	}
	lies := map[string]func(*Entry){
		"stored one short":         func(e *Entry) { e.Stored-- },
		"stored one long":          func(e *Entry) { e.Stored++ },
		"stored = length":          func(e *Entry) { e.Stored, e.Tail = e.Length, 0 },
		"stored beyond the image":  func(e *Entry) { e.Stored = e.Length + 1 },
		"tail beyond stored":       func(e *Entry) { e.Tail = e.Stored + 1 },
		"tail one short":           func(e *Entry) { e.Tail-- },
		"tail one long":            func(e *Entry) { e.Tail++ },
		"no tail":                  func(e *Entry) { e.Tail = 0 },
		"offset one on":            func(e *Entry) { e.Offset++ },
		"offset in the header":     func(e *Entry) { e.Offset = 0 },
		"stored past the file end": func(e *Entry) { e.Offset, e.Stored, e.Tail = 1<<40, 48, 16 },
	}
	buf := make([]byte, 512)
	for name, lie := range lies {
		bad := e
		lie(&bad)
		err := r.ReadImage(bad, buf)
		if name == "stored past the file end" || name == "stored = length" { // reads past the end of the file
			if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, corrupt.Err) {
				t.Errorf("%s: %v, want a short read or corruption", name, err)
			}
			continue
		}
		if !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: %v, want corruption", name, err)
		}
	}
	if err := r.ReadImage(e, buf); err != nil || !bytes.Equal(buf, img) {
		t.Fatalf("the true entry: %v", err)
	}

	// On disk: the index page says page 5 stores 8 bytes fewer; every
	// checksum above it is made to agree, so only the image check can tell.
	w.f.Close() // the writer dies; we edit its file
	forgeEntry(t, w, path, 5, func(e *Entry) { e.Stored -= 8; e.Tail -= 8 })
	r2 := mustOpen(t, path)
	forged, _ := r2.Current().Find(5)
	if forged.Stored != e.Stored-8 {
		t.Fatalf("the forged index was not loaded: %+v", forged)
	}
	if err := r2.ReadImage(forged, buf); !errors.Is(err, ErrImageChecksum) || !errors.Is(err, corrupt.Err) {
		t.Fatalf("image of a lying entry: %v, want ErrImageChecksum", err)
	}
	if _, err := OpenForRecovery(vfs.OS, path, ReaderOptions{}); !errors.Is(err, ErrNoSnapshot) || !errors.Is(err, corrupt.Err) {
		t.Fatalf("recovery of a file whose only tick lies: %v, want ErrNoSnapshot and corruption", err)
	}
}

// forgeEntry rewrites the entry of page in w's last published index with
// edit, and every checksum from its index page up to the header, in place.
func forgeEntry(t *testing.T, w *Writer, path string, page uint64, edit func(*Entry)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	put := func(off uint64, b []byte) {
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	bi := len(w.branches) - 1
	for bi > 0 && w.branches[bi].first() > page {
		bi--
	}
	br := w.branches[bi]
	li := len(br.leaves) - 1
	for li > 0 && br.leaves[li].first() > page {
		li--
	}
	lf := br.leaves[li]
	es := append([]Entry(nil), lf.entries...)
	for i := range es {
		if es[i].Page == page {
			edit(&es[i])
		}
	}
	lb := encodeLeaf(nil, w.ps, w.indexTick, es)
	put(lf.ref.Offset, lb)
	refs := make([]Ref, len(br.leaves))
	for j, l := range br.leaves {
		refs[j] = l.ref
	}
	refs[li].Checksum = xxhash.Sum64(lb)
	bb := encodeNode(nil, branchMagic, w.indexTick, uint64(br.entries), refs)
	put(br.ref.Offset, bb)
	roots := make([]Ref, len(w.branches))
	for j, b := range w.branches {
		roots[j] = b.ref
	}
	roots[bi].Checksum = xxhash.Sum64(bb)
	rb := encodeNode(nil, rootMagic, w.indexTick, uint64(w.entries), roots)
	put(w.root.page*granule, rb)
	var hb [HeaderSize]byte
	h, err := DecodeHeader(w.hdr[:])
	if err != nil {
		t.Fatal(err)
	}
	h.RootChecksum = xxhash.Sum64(rb)
	h.Encode(hb[:])
	put(uint64(w.slot*slotStride), hb[:])
}

// zeroTail is the number of zero bytes that end p.
func zeroTail(p []byte) int {
	n := len(p)
	for n > 0 && p[n-1] == 0 {
		n--
	}
	return len(p) - n
}

// TestZeroRunAfter: told that any part of the zeros ending an image are
// zeros, the writer finds the run zeroRun finds.
func TestZeroRunAfter(t *testing.T) {
	imgs := [][]byte{}
	for _, c := range storedCases() {
		imgs = append(imgs, c.img)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		b := make([]byte, 512)
		for range rng.IntN(12) {
			b[rng.IntN(512)] = byte(rng.IntN(255) + 1)
		}
		imgs = append(imgs, b)
	}
	for i, img := range imgs {
		h, tl := zeroRun(img)
		for z := 0; z <= zeroTail(img); z++ {
			if h2, tl2 := zeroRunAfter(img, z); h2 != h || tl2 != tl {
				t.Fatalf("image %d, %d zeros vouched: %d + %d bytes, zeroRun %d + %d", i, z, h2, tl2, h, tl)
			}
		}
	}
}

// TestVouchedZeros: an update that vouches for the zeros ending its images
// indexes the same entries (stored lengths, checksums) as one that does
// not, and they read back whole; a count beyond the image is refused.
func TestVouchedZeros(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var plain, vouched []Image
	for i := range 40 {
		b := make([]byte, 512*(1+i%2))
		for j := range rng.IntN(300) {
			b[j] = byte(rng.IntN(255) + 1)
		}
		if i%5 == 0 {
			b[len(b)-1] = 9 // a checksum at the end: no zero tail
		}
		plain = append(plain, Image{Page: uint64(4 * i), Data: b})
		vouched = append(vouched, Image{Page: uint64(4 * i), Data: b, Zeros: rng.IntN(zeroTail(b) + 1)})
	}
	entries := func(imgs []Image) []Entry {
		path := mdPath(t)
		w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, ReservedPages: 4})
		if err := w.Update(1, imgs, nil); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, path)
		var out []Entry
		for _, img := range imgs {
			e, ok := r.Current().Find(img.Page)
			if !ok {
				t.Fatalf("page %d not in the index", img.Page)
			}
			got := make([]byte, len(img.Data))
			if err := r.ReadImage(e, got); err != nil || !bytes.Equal(got, img.Data) {
				t.Fatalf("page %d read back wrong (%v)", img.Page, err)
			}
			e.Offset = 0
			out = append(out, e)
		}
		return out
	}
	if a, b := entries(plain), entries(vouched); !slices.Equal(a, b) {
		t.Fatalf("entries differ:\n%+v\n%+v", a, b)
	}
	w := mustCreate(t, vfs.OS, mdPath(t), WriterOptions{PageSize: 512, ReservedPages: 4})
	for _, z := range []int{-1, 513} {
		if err := w.Update(1, []Image{{Page: 1, Data: make([]byte, 512), Zeros: z}}, nil); !errors.Is(err, ErrBadUpdate) {
			t.Errorf("%d zeros vouched of 512 bytes: %v", z, err)
		}
	}
}
