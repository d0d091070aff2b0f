package mdfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/tool/golden"
	"pwstore/vfs"
)

// The golden metadata file: 512-byte pages, one-page index pages so that
// the index has a root, branch pages and several leaves, two ticks.
const (
	goldenPS    = 512
	goldenPages = 40 // data-file pages in the first tick
)

var goldenID = [16]byte{0x70, 0x77, 0x6d, 0x64, 0x2d, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0, 0, 0, 0, 2}

// goldenTicks are the updates the golden file holds: tick 1 writes pages
// 1..goldenPages, tick 2 rewrites three and removes one.
func goldenTicks() [][2]any {
	var first []Image
	for p := uint64(1); p <= goldenPages; p++ {
		first = append(first, Image{Page: p, Data: testImage(p, 1, 1, goldenPS)})
	}
	second := []Image{
		{Page: 2, Data: testImage(2, 2, 1, goldenPS)},
		{Page: 17, Data: testImage(17, 2, 1, goldenPS)},
		{Page: 39, Data: testImage(39, 2, 1, goldenPS)},
	}
	return [][2]any{{first, []uint64(nil)}, {second, []uint64{30}}}
}

func writeGoldenMD(t *testing.T, path string) {
	now := time.Unix(1_800_000_000, 0)
	w := mustCreate(t, vfs.OS, path, WriterOptions{
		PageSize: goldenPS, MaxLag: 3, FileID: goldenID, LeafPages: 1, Now: func() time.Time { return now },
	})
	for i, u := range goldenTicks() {
		if err := w.Update(uint64(i+1), u[0].([]Image), u[1].([]uint64)); err != nil {
			t.Fatal(err)
		}
	}
	w.Abandon() // as a running writer leaves it
}

// TestGolden pins the metadata file format: the code writes the golden
// file byte for byte; its header, index root, branch pages and index pages
// decode to the golden values and re-encode to the same bytes; and a
// reader of the golden file finds every image of the last tick.
func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.pw.md")
	writeGoldenMD(t, path)
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img := golden.Bytes(t, "metadata.md", written)

	// The header slot of the last tick.
	var h Header
	var slot []byte
	for s := range headerSlots {
		b := img[s*slotStride : s*slotStride+HeaderSize]
		if sh, err := DecodeHeader(b); err == nil && sh.Tick >= h.Tick {
			h, slot = sh, b
		}
	}
	if slot == nil {
		t.Fatal("no valid header slot")
	}
	golden.Bytes(t, "header.bin", slot)
	hj := h
	hj.Heartbeat = h.Heartbeat.UTC()
	golden.JSON(t, "header.json", hj)
	again := make([]byte, HeaderSize)
	h.Encode(again)
	if !bytes.Equal(again, slot) {
		t.Error("header re-encodes differently")
	}

	// The index, from the root down.
	part := func(off, n uint64) []byte {
		if off+n > uint64(len(img)) {
			t.Fatalf("index part at %d+%d beyond the file's %d bytes", off, n, len(img))
		}
		return img[off : off+n]
	}
	rootImg := golden.Bytes(t, "index-root.bin", part(h.RootOffset, h.RootLength))
	root, err := DecodeRoot(rootImg, goldenPS)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeNode(nil, rootMagic, root.Tick, root.Entries, root.Refs), rootImg) {
		t.Error("index root re-encodes differently")
	}
	type index struct {
		Root     Node
		Branches []Node
		Leaves   []Leaf
	}
	ix := index{Root: root}
	for i, br := range root.Refs {
		bImg := part(br.Offset, uint64(br.Length))
		if i == 0 {
			golden.Bytes(t, "index-branch.bin", bImg)
		}
		b, err := DecodeBranch(bImg, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(encodeNode(nil, branchMagic, b.Tick, b.Entries, b.Refs), bImg) {
			t.Errorf("branch %d re-encodes differently", i)
		}
		ix.Branches = append(ix.Branches, b)
		for j, lr := range b.Refs {
			lImg := part(lr.Offset, uint64(lr.Length))
			if i == 0 && j == 0 {
				golden.Bytes(t, "index-leaf.bin", lImg)
			}
			l, err := DecodeLeaf(lImg, goldenPS)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(encodeLeaf(nil, goldenPS, l.Tick, l.Entries), lImg) {
				t.Errorf("leaf %d.%d re-encodes differently", i, j)
			}
			ix.Leaves = append(ix.Leaves, l)
		}
	}
	golden.JSON(t, "index.json", ix)

	// The whole file, through a reader.
	copyPath := filepath.Join(t.TempDir(), "copy.pw.md")
	if err := os.WriteFile(copyPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, copyPath)
	snap := r.Current()
	if snap.Tick() != 2 || snap.Len() != goldenPages-1 {
		t.Fatalf("snapshot at tick %d with %d entries, want tick 2 with %d", snap.Tick(), snap.Len(), goldenPages-1)
	}
	for _, e := range snap.Entries() {
		want := uint64(1)
		if e.Page == 2 || e.Page == 17 || e.Page == 39 {
			want = 2
		}
		// testImage: (page, tick, page) and the low byte of the second tick
		// before the zeros, (page, tick) after them.
		if e.Stored != 25+16 || e.Tail != 16 {
			t.Errorf("page %d: %d bytes stored, %d of them the tail; want 25 + 16", e.Page, e.Stored, e.Tail)
		}
		buf := make([]byte, e.Length)
		if err := r.ReadImage(e, buf); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(buf[8:]); got != want || e.Page == 30 {
			t.Errorf("page %d: image of tick %d, want %d", e.Page, got, want)
		}
	}
}
