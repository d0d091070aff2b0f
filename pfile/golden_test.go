package pfile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
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
	h.close(t)
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

type headerDesc struct {
	Path              string
	Type              string
	Shape, Max, Chunk []uint64
	Index             uint64
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
	payload, err := unseal(nodeImg, magicCatalog, sb.CatalogRoot, goldenPS)
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
	if again := seal(magicCatalog, sb.CatalogRoot, 1, n.encode(), goldenPS); !bytes.Equal(again, nodeImg) {
		t.Error("catalog node re-encodes differently")
	}

	// Dataset headers, found through the node.
	var hds []headerDesc
	for i, key := range n.keys {
		r := n.refs[i]
		hImg := pages(t, img, r.page, int(r.npages))
		if key == "/grid" {
			golden.Bytes(t, "dataset-header.bin", hImg)
		}
		payload, err := unseal(hImg, magicDataset, r.page, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		h, err := decodeHeader(payload, sb.EOA, goldenPS)
		if err != nil {
			t.Fatal(err)
		}
		hd := headerDesc{Path: h.path, Type: h.typ.String(), Shape: h.shape, Max: h.max, Chunk: h.chunk,
			Index: h.index, Page: r.page, Pages: uint64(r.npages)}
		for _, a := range h.attrs {
			hd.Attrs = append(hd.Attrs, attrDesc{a.name, a.val.Type.String(), a.val.Data})
		}
		hds = append(hds, hd)
		if again := seal(magicDataset, r.page, int(r.npages), h.encode(), goldenPS); !bytes.Equal(again, hImg) {
			t.Errorf("dataset header %s re-encodes differently", key)
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
	}{{"/grid", []uint64{2, 3}, goldenGrid()}, {"/run/steps", []uint64{6}, goldenSteps()}} {
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
