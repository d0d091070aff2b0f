package pfile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"testing"

	"pwstore/internal/tool/golden"
)

// The golden data file: two datasets, one fixed with attributes, one
// extensible, in 512-byte pages.
const goldenPS = 512

var goldenID = [16]byte{0x70, 0x77, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x2d, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0x00, 0x01}

// goldenGrid and goldenSteps are the datasets' contents.
func goldenGrid() []byte {
	b := make([]byte, 0, 6*4)
	for i := range 6 {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(7*i-10)))
	}
	return b
}

func goldenSteps() []byte {
	b := make([]byte, 0, 6*8)
	for i := range 6 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1.5*float64(i)))
	}
	return b
}

// writeGoldenFile writes the golden data file at path with the code.
func writeGoldenFile(t *testing.T, path string) {
	h := createFile(t, path, Options{PageSize: goldenPS, ID: goldenID})
	grid, err := h.f.CreateDataset("/grid", Spec{Type: Int32, Shape: []uint64{2, 3}, Chunk: []uint64{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Attr{{"units", StringValue("m")}, {"scale", FloatValue(0.5)}, {"origin", IntValue(-4)}} {
		if err := grid.SetAttr(a.Name, a.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := grid.WriteSlab([]uint64{0, 0}, []uint64{2, 3}, goldenGrid()); err != nil {
		t.Fatal(err)
	}
	steps, err := h.f.CreateDataset("/run/steps", Spec{Type: Float64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := steps.Extend(6); err != nil {
		t.Fatal(err)
	}
	if err := steps.WriteSlab([]uint64{0}, []uint64{6}, goldenSteps()); err != nil {
		t.Fatal(err)
	}
	clock, err := h.f.CreateDataset("/run/time", Spec{Type: Int64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := clock.Append(3, goldenTime()); err != nil {
		t.Fatal(err)
	}
	h.close(t)
}

// goldenTime is the single-chunk dataset's contents.
func goldenTime() []byte {
	b := make([]byte, 0, 3*8)
	for i := range 3 {
		b = binary.LittleEndian.AppendUint64(b, uint64(100*i-1))
	}
	return b
}

type refDesc struct{ Page, NPages uint64 }

type nodeDesc struct {
	Leaf bool
	Keys []string
	Refs []refDesc `json:",omitempty"`
	Kids []uint64  `json:",omitempty"`
}

type attrDesc struct {
	Name string
	Type string
	Data []byte
}

type extDesc struct {
	Page uint64
	Slot uint32
}

type headerDesc struct {
	Path              string
	Type              string
	Shape, Max, Chunk []uint64
	Ext               extDesc
	Index             uint64
	Addr0             uint64 `json:",omitempty"`
	Attrs             []attrDesc
	Page, Pages       uint64
}

// pages returns np pages of img from page.
func pages(t *testing.T, img []byte, page uint64, np int) []byte {
	t.Helper()
	from, to := page*goldenPS, (page+uint64(np))*goldenPS
	if to > uint64(len(img)) {
		t.Fatalf("pages %d+%d beyond the golden file's %d bytes", page, np, len(img))
	}
	return img[from:to]
}

// TestGolden pins the data file format: the code writes the golden file
// byte for byte; its superblock, catalog node and dataset headers decode
// to the golden values and re-encode to the same bytes; and the file reads
// back the datasets written into it.
func TestGolden(t *testing.T) {
	path := tempPath(t, "golden.pw")
	writeGoldenFile(t, path)
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img := golden.Bytes(t, "data.pw", written)

	// Superblock.
	sbImg := golden.Bytes(t, "superblock.bin", img[:goldenPS])
	sb, err := DecodeSuperblock(sbImg)
	if err != nil {
		t.Fatal(err)
	}
	golden.JSON(t, "superblock.json", sb)
	if again := sb.encode(); !bytes.Equal(again, sbImg) {
		t.Error("superblock re-encodes differently")
	}

	// Catalog root node.
	nodeImg := golden.Bytes(t, "catalog-node.bin", pages(t, img, sb.CatalogRoot, 1))
	payload, _, err := unseal(nodeImg, magicCatalog, sb.CatalogRoot, goldenPS)
	if err != nil {
		t.Fatal(err)
	}
	n, err := decodeNode(payload, sb.EOA)
	if err != nil {
		t.Fatal(err)
	}
	nd := nodeDesc{Leaf: n.leaf, Keys: n.keys, Kids: n.kids}
	for _, r := range n.refs {
		nd.Refs = append(nd.Refs, refDesc{r.page, uint64(r.npages)})
	}
	golden.JSON(t, "catalog-node.json", nd)
	if again := seal(kindCatalog, sb.CatalogRoot, 1, n.encode(), goldenPS); !bytes.Equal(again, nodeImg) {
		t.Error("catalog node re-encodes differently")
	}

	// Dataset headers, found through the node: all three in one header
	// block, which re-encodes from its entries to the same bytes.
	var hds []headerDesc
	for i, key := range n.keys {
		r := n.refs[i]
		if r.npages != 0 {
			t.Fatalf("%s: header of %d pages of its own, want it in a header block", key, r.npages)
		}
		bImg := golden.Bytes(t, "header-block.bin", pages(t, img, r.page, 1))
		payload, _, err := unseal(bImg, magicBlock, r.page, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := decodeBlock(payload, sb.EOA, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		b := blockOf(r.page, entries)
		var h *header
		var v uint16
		for _, e := range entries {
			if e.h.path == key {
				h, v = e.h, e.version
			}
		}
		if again := seal(kindBlock, r.page, 1, b.encode(), goldenPS); !bytes.Equal(again, bImg) {
			t.Errorf("header block at page %d re-encodes differently", r.page)
		}
		if h == nil {
			t.Fatalf("%s: not in the header block at page %d", key, r.page)
		}
		if want := map[bool]uint16{false: headerV2, true: headerV3}[key == "/run/time"]; v != want {
			t.Errorf("%s: header version %d, want %d", key, v, want)
		}
		tImg := pages(t, img, h.ext.page, 1)
		tp, _, err := unseal(tImg, magicExtent, h.ext.page, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := decodeExtent(tp, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		if again := seal(kindExtent, h.ext.page, 1, (&extTable{vals: vals}).encode(), goldenPS); !bytes.Equal(again, tImg) {
			t.Errorf("extent table at page %d re-encodes differently", h.ext.page)
		}
		h.shape = vals[h.ext.slot : int(h.ext.slot)+len(h.max)]
		hd := headerDesc{Path: h.path, Type: h.typ.String(), Shape: h.shape, Max: h.max, Chunk: h.chunk,
			Ext: extDesc{h.ext.page, h.ext.slot}, Index: h.index, Addr0: h.addr0, Page: r.page, Pages: uint64(r.npages)}
		for _, a := range h.attrs {
			hd.Attrs = append(hd.Attrs, attrDesc{a.name, a.val.Type.String(), a.val.Data})
		}
		hds = append(hds, hd)
		for _, e := range entries {
			if e.h == h && !bytes.Equal(h.encode(), e.raw) {
				t.Errorf("dataset header %s re-encodes differently", key)
			}
		}
	}
	golden.JSON(t, "dataset-headers.json", hds)

	// The whole file, read through the API.
	copyPath := tempPath(t, "copy.pw")
	if err := os.WriteFile(copyPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	h := mustOpen(t, copyPath, true)
	if err := h.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path  string
		count []uint64
		want  []byte
	}{{"/grid", []uint64{2, 3}, goldenGrid()}, {"/run/steps", []uint64{6}, goldenSteps()}, {"/run/time", []uint64{3}, goldenTime()}} {
		ds, err := h.f.Dataset(c.path)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(c.want))
		if err := ds.ReadSlab(make([]uint64, len(c.count)), c.count, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s reads %x, want %x", c.path, got, c.want)
		}
	}
}

// TestFormat1File: a file written before extent tables (superblock and
// dataset headers of version 1, testdata/golden/data-v1.pw) reads as it
// did, and a writer that reopens it keeps its datasets' shapes in their
// headers while a dataset it creates gets an extent slot; the file then
// checks and reads back both.
func TestFormat1File(t *testing.T) {
	path, want, shapes, w, steps, more := reopenOld(t, "data-v1.pw")
	if steps.h.ext.page != 0 {
		t.Fatal("a version 1 dataset moved its shape to an extent table")
	}
	fresh, err := w.f.CreateDataset("/new", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{8}})
	if err != nil {
		t.Fatal(err)
	}
	vals := []byte{1, 0, 0, 0, 2, 0, 0, 0}
	if err := fresh.Append(2, vals); err != nil {
		t.Fatal(err)
	}
	if fresh.h.ext.page == 0 {
		t.Fatal("a new dataset in a reopened version 1 file has no extent slot")
	}
	w.close(t)
	checkClosed(t, path)
	want["/run/steps"], shapes["/run/steps"] = append(goldenSteps(), more...), []uint64{7}
	want["/new"], shapes["/new"] = vals, []uint64{2}
	readsBack(t, path, want, shapes)
}

// reopenOld copies the golden file name (of an older format, holding
// goldenFile's "/grid" and "/run/steps") to a temporary path, checks it
// and reads it back, then reopens it as a writer and appends one element
// to "/run/steps". It returns the path, the datasets' contents and shapes
// before the append, the writer, "/run/steps" and the appended bytes.
func reopenOld(t *testing.T, name string) (string, map[string][]byte, map[string][]uint64, *handle, *Dataset, []byte) {
	t.Helper()
	path := tempPath(t, name)
	if err := os.WriteFile(path, golden.Read(t, name), 0o644); err != nil {
		t.Fatal(err)
	}
	checkClosed(t, path)
	want := map[string][]byte{"/grid": goldenGrid(), "/run/steps": goldenSteps()}
	shapes := map[string][]uint64{"/grid": {2, 3}, "/run/steps": {6}}
	readsBack(t, path, want, shapes)
	w := mustOpen(t, path, false)
	steps, err := w.f.Dataset("/run/steps")
	if err != nil {
		t.Fatal(err)
	}
	more := binary.LittleEndian.AppendUint64(nil, math.Float64bits(-2))
	if err := steps.Append(1, more); err != nil {
		t.Fatal(err)
	}
	return path, want, shapes, w, steps, more
}

// readsBack opens the file at path for reading and checks that each
// dataset in want has the shape in shapes and reads back its bytes.
func readsBack(t *testing.T, path string, want map[string][]byte, shapes map[string][]uint64) {
	t.Helper()
	r := mustOpen(t, path, true)
	defer r.close(t)
	for name, w := range want {
		ds, err := r.f.Dataset(name)
		if err != nil {
			t.Fatal(err)
		}
		shape, err := ds.Shape()
		if err != nil || !slices.Equal(shape, shapes[name]) {
			t.Fatalf("%s: shape %v (%v), want %v", name, shape, err, shapes[name])
		}
		got := make([]byte, len(w))
		if err := ds.ReadSlab(make([]uint64, len(shape)), shape, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("%s reads %x, want %x", name, got, w)
		}
	}
}

// TestFormat2File: a file written before single-chunk headers (every
// dataset header of version 2 with a chunk index, testdata/golden/data-v2.pw)
// reads as it did; a writer that reopens it grows its datasets through
// their indexes, and a dataset it creates starts with a single-chunk
// header; the file then checks and reads back every dataset.
func TestFormat2File(t *testing.T) {
	path, want, shapes, w, steps, more := reopenOld(t, "data-v2.pw")
	if v := steps.h.kind().version; v != headerV2 {
		t.Fatalf("a version 2 dataset became version %d", v)
	}
	fresh, err := w.f.CreateDataset("/new", Spec{Type: Int64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Append(3, goldenTime()); err != nil {
		t.Fatal(err)
	}
	if !fresh.h.single() {
		t.Fatal("a new one-chunk dataset in a reopened version 2 file has a chunk index")
	}
	w.close(t)
	checkClosed(t, path)
	want["/run/steps"], shapes["/run/steps"] = append(goldenSteps(), more...), []uint64{7}
	want["/new"], shapes["/new"] = goldenTime(), []uint64{3}
	readsBack(t, path, want, shapes)
}
