package pfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// TestHeaderBlocks: small headers share header blocks; a writer that
// reopens the file changes a header of an earlier session's block without
// losing its neighbours; a header that outgrows its block moves to pages
// of its own, and a block left empty is freed; the file checks and reads
// back every dataset and attribute at each stage.
func TestHeaderBlocks(t *testing.T) {
	const n = 60
	path := tempPath(t, "blocks.pw")
	h := createFile(t, path, Options{PageSize: 512})
	blocks := map[uint64]int{}
	name := func(i int) string { return fmt.Sprintf("/g/d%02d", i) }
	for i := range n {
		ds, err := h.f.CreateDataset(name(i), Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ds.SetAttr("i", IntValue(int64(i))); err != nil {
			t.Fatal(err)
		}
		if err := ds.Append(1, []byte{byte(i), 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		if ds.at.npages != 0 {
			t.Fatalf("%s: a small header got %d pages of its own", name(i), ds.at.npages)
		}
		blocks[ds.at.page]++
	}
	if len(blocks) > n/4 {
		t.Fatalf("%d headers in %d blocks: fewer than four a block", n, len(blocks))
	}
	h.close(t)
	checkClosed(t, path)

	// An earlier session's block: one header changes in place, another
	// moves out, and every header of a block whose members all move out
	// leaves it free.
	w := mustOpen(t, path, false)
	open := func(i int) *Dataset {
		t.Helper()
		ds, err := w.f.Dataset(name(i))
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	first := open(0)
	if err := first.SetAttr("i", IntValue(-7)); err != nil { // the same size
		t.Fatal(err)
	}
	if first.at.npages != 0 {
		t.Fatal("a change of the same size moved the header out of its block")
	}
	big := StringValue(strings.Repeat("b", 600))
	moved := map[int]bool{}
	var emptied uint64
	for i := range n {
		if ds := open(i); ds.at.page != first.at.page && (emptied == 0 || ds.at.page == emptied) {
			emptied = ds.at.page
			if err := ds.SetAttr("big", big); err != nil {
				t.Fatal(err)
			}
			if ds.at.npages < 2 {
				t.Fatalf("%s: a 600-byte attribute left it in %d pages", name(i), ds.at.npages)
			}
			moved[i] = true
		}
	}
	if _, held := w.f.blocks[emptied]; held || len(moved) < 2 {
		t.Fatalf("moved %v out of the block at page %d: still held %v", moved, emptied, held)
	}
	if err := w.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	w.close(t)
	checkClosed(t, path)

	r := mustOpen(t, path, true)
	defer r.close(t)
	for i := range n {
		ds, err := r.f.Dataset(name(i))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if err := ds.ReadSlab([]uint64{0}, []uint64{1}, got); err != nil || got[0] != byte(i) {
			t.Fatalf("%s reads %v (%v)", name(i), got, err)
		}
		want := IntValue(int64(i))
		if i == 0 {
			want = IntValue(-7)
		}
		v, ok, err := ds.Attr("i")
		if err != nil || !ok || !bytes.Equal(v.Data, want.Data) {
			t.Fatalf("%s: attribute i %v %v %v", name(i), v, ok, err)
		}
		_, ok, err = ds.Attr("big")
		if err != nil || ok != moved[i] {
			t.Fatalf("%s: attribute big present %v (%v), want %v", name(i), ok, err, moved[i])
		}
	}
}

// TestHeaderBlockCorrupt: a header block's entries are checked as headers
// are: a version other than 2 or 3, a length past the payload, a bad
// header inside, and trailing bytes are each corruption.
func TestHeaderBlockCorrupt(t *testing.T) {
	const ps, eoa = 512, 20
	hd := &header{path: "/s", typ: Int64, max: []uint64{Unlimited}, chunk: []uint64{8}, ext: ext{3, 0}, addr0: 5 * ps}
	entry := func(v uint8, p []byte) []byte {
		var e enc
		e.u8(v)
		e.u16(uint16(len(p)))
		return append(e.b, p...)
	}
	block := func(entries ...[]byte) []byte {
		var e enc
		e.u16(uint16(len(entries)))
		for _, x := range entries {
			e.b = append(e.b, x...)
		}
		return e.b
	}
	good := block(entry(3, hd.encode()))
	if hs, err := decodeBlock(good, eoa, ps); err != nil || len(hs) != 1 || hs[0].h.path != "/s" {
		t.Fatalf("a sound block: %v, %v", hs, err)
	}
	for name, p := range map[string][]byte{
		"version 1 entry":     block(entry(1, hd.encode())),
		"version 4 entry":     block(entry(4, hd.encode())),
		"version 2 single":    block(entry(2, hd.encode())),
		"length past the end": good[:len(good)-1],
		"trailing bytes":      append(bytes.Clone(good), 0),
		"count past the end":  block(entry(3, hd.encode()))[:2],
	} {
		if _, err := decodeBlock(p, eoa, ps); !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: %v, want corruption", name, err)
		}
	}
}

// TestHeaderTooLongForBlock: with 1 MiB pages a block has room for a
// header longer than its u16 length field; such a header leaves the
// block for pages of its own, and reads back.
func TestHeaderTooLongForBlock(t *testing.T) {
	path := tempPath(t, "long.pw")
	h := createFile(t, path, Options{PageSize: 1 << 20})
	ds, err := h.f.CreateDataset("/long", Spec{Type: Int8, Shape: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.at.npages != 0 {
		t.Fatal("a small header is not in a block")
	}
	var want []Attr
	for _, name := range []string{"a", "b"} {
		v := StringValue(strings.Repeat(name, MaxValueLen-100))
		if err := ds.SetAttr(name, v); err != nil {
			t.Fatal(err)
		}
		want = append(want, Attr{name, v})
	}
	if ds.at.npages == 0 || ds.h.size() <= maxInBlock {
		t.Fatalf("a header of %d bytes in %d pages of its own", ds.h.size(), ds.at.npages)
	}
	h.close(t)
	checkClosed(t, path)
	r := mustOpen(t, path, true)
	defer r.close(t)
	rd, err := r.f.Dataset("/long")
	if err != nil {
		t.Fatal(err)
	}
	got, err := rd.Attrs()
	if err != nil || len(got) != 2 || !bytes.Equal(got[0].Value.Data, want[0].Value.Data) || !bytes.Equal(got[1].Value.Data, want[1].Value.Data) {
		t.Fatalf("attributes read back differ (%v)", err)
	}
}

// TestReaderFollowsHeaderMoves: a reader with an eight-page buffer follows
// a writer whose headers join blocks, change in them, move between blocks
// and out to pages of their own, while the datasets grow (from one chunk
// to an index); after adopting each published state, every dataset reads
// back exactly the writer's attributes, shape and values - never a
// neighbour's header from a shared block, never a stale one.
func TestReaderFollowsHeaderMoves(t *testing.T) {
	const n, rounds = 40, 12
	path := tempPath(t, "moves.pw")
	w := createFile(t, path, Options{PageSize: 512, DeferReuse: true})
	rng := rand.New(rand.NewPCG(7, 0))
	type state struct {
		note  string
		noted bool
		rows  uint64
	}
	want := make([]state, n)
	ds := make([]*Dataset, n)
	name := func(i int) string { return fmt.Sprintf("/m/%02d", i) }
	val := func(i int, row uint64) byte { return byte(i*31 + int(row)*7 + 1) }
	var prev []byte
	var r *handle
	at := make([]ref, n)
	var own, between int // headers seen in pages of their own, and moves between blocks
	for round := range rounds {
		for i := range n {
			if ds[i] == nil {
				if rng.IntN(3) > 0 && round < rounds-1 {
					continue // created in a later round
				}
				var err error
				if ds[i], err = w.f.CreateDataset(name(i), Spec{Type: Uint8, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}}); err != nil {
					t.Fatal(err)
				}
			}
			switch rng.IntN(4) {
			case 0: // a note of a new length: the header grows or shrinks in its place, or moves
				want[i].note, want[i].noted = strings.Repeat(string(rune('a'+i%26)), rng.IntN(700)), true
				if err := ds[i].SetAttr("note", StringValue(want[i].note)); err != nil {
					t.Fatal(err)
				}
			case 1, 2: // rows: the first chunk, then an index
				k := uint64(1 + rng.IntN(3))
				data := make([]byte, k)
				for j := range data {
					data[j] = val(i, want[i].rows+uint64(j))
				}
				if err := ds[i].Append(k, data); err != nil {
					t.Fatal(err)
				}
				want[i].rows += k
			}
		}
		w.publish(t)
		img, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			if r, err = openFileCap(t, path, true, 8); err != nil {
				t.Fatal(err)
			}
		} else {
			r.buf.Invalidate(changedPages(prev, img, 512))
			if err := r.f.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		prev = img
		for i := range n {
			if ds[i] == nil {
				continue
			}
			if ds[i].at.npages > 0 {
				own++
			} else if at[i].npages == 0 && at[i].page != 0 && at[i].page != ds[i].at.page {
				between++
			}
			at[i] = ds[i].at
			rd, err := r.f.Dataset(name(i))
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, name(i), err)
			}
			v, ok, err := rd.Attr("note")
			if err != nil || ok != want[i].noted || string(v.Data) != want[i].note {
				t.Fatalf("round %d: %s: note %q (%v, %v), want %q", round, name(i), v.Data, ok, err, want[i].note)
			}
			shape, err := rd.Shape()
			if err != nil || shape[0] != want[i].rows {
				t.Fatalf("round %d: %s: shape %v (%v), want %d rows", round, name(i), shape, err, want[i].rows)
			}
			got := make([]byte, want[i].rows)
			if err := rd.ReadSlab([]uint64{0}, []uint64{want[i].rows}, got); err != nil {
				t.Fatal(err)
			}
			for j, b := range got {
				if b != val(i, uint64(j)) {
					t.Fatalf("round %d: %s row %d: %d, want %d", round, name(i), j, b, val(i, uint64(j)))
				}
			}
		}
		if err := r.f.Check(CheckOptions{}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if own == 0 || between == 0 {
		t.Fatalf("headers in pages of their own %d times, moved between blocks %d: the test missed a case", own, between)
	}
	w.close(t)
	checkClosed(t, path)
}
