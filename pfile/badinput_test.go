package pfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"pwstore/internal/storage/corrupt"
	"pwstore/pagebuf"
	"pwstore/vfs"
)

// smallFile writes a small file with every kind of metadata object:
// catalog nodes (enough paths to split), headers (one multi-page),
// extensible and fixed chunk indexes, a persisted free list.
func smallFile(t *testing.T) string {
	t.Helper()
	path := tempPath(t, "small.pw")
	h := createFile(t, path, Options{PageSize: 512, ID: [16]byte{9}})
	for i := range 30 {
		spec := Spec{Type: Int32, Shape: []uint64{3, 4}, MaxShape: []uint64{Unlimited, 4}, Chunk: []uint64{1, 4}}
		if i%3 == 0 {
			spec = Spec{Type: Float64, Shape: []uint64{6}, Chunk: []uint64{2}}
		}
		ds, err := h.f.CreateDataset(strings.Repeat("p", 20)+string(rune('a'+i)), spec)
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(spec.Shape, spec.Type.Size())
		zero := make([]uint64, len(spec.Shape))
		if err := ds.WriteSlab(zero, spec.Shape, m.slab(1, zero, spec.Shape)); err != nil {
			t.Fatal(err)
		}
		if i == 29 {
			for j := range 30 { // moves the header: leaves free space
				if err := ds.SetAttr(strings.Repeat("k", 10)+string(rune('a'+j)), IntValue(int64(j))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	h.close(t)
	return path
}

// readAll opens path read-only and reads everything there is to read,
// then checks the file; it returns the first error.
func readAll(t *testing.T, path string) error {
	t.Helper()
	h, err := openFile(t, path, true)
	if err != nil {
		return err
	}
	paths, err := h.f.Paths()
	if err != nil {
		return err
	}
	for _, p := range paths {
		ds, err := h.f.Dataset(p)
		if err != nil {
			return err
		}
		spec, err := ds.Spec()
		if err != nil {
			return err
		}
		buf := make([]byte, total(spec.Shape)*uint64(spec.Type.Size()))
		if err := ds.ReadSlab(make([]uint64, len(spec.Shape)), spec.Shape, buf); err != nil {
			return err
		}
		if _, err := ds.Attrs(); err != nil {
			return err
		}
	}
	return h.f.Check(CheckOptions{Closed: true})
}

// metadataPages lists the pages that hold metadata written by a writer
// (not raw chunks, not free or never-written space).
func metadataPages(t *testing.T, path string, img []byte) []uint64 {
	t.Helper()
	h := mustOpen(t, path, true)
	c := checker{f: h.f}
	c.run(CheckOptions{Closed: true})
	if len(c.errs) > 0 {
		t.Fatal(errors.Join(c.errs...))
	}
	ps := uint64(h.f.PageSize())
	var pages []uint64
	kinds := map[string]int{}
	for _, u := range c.used {
		kinds[strings.Fields(u.what)[0]]++
		if strings.HasPrefix(u.what, "chunk ") || u.what == "free space" {
			continue
		}
		for p := u.lo / ps; p < u.hi/ps; p++ {
			if bytes.Count(img[p*ps:(p+1)*ps], []byte{0}) != int(ps) {
				pages = append(pages, p)
			}
		}
	}
	// Every kind of object is there: superblock, catalog nodes (split),
	// header blocks, chunk indexes, the free list.
	if kinds["superblock"] != 1 || kinds["catalog"] < 3 || kinds["header"] < 3 || kinds["chunk"] < 30 || kinds["free"] < 2 {
		t.Fatalf("small file lacks some kind of object: %v", kinds)
	}
	return pages
}

// TestFlippedByte flips bytes all over every metadata page of a small
// file: each flip gives an error marked corrupt, never a panic or a
// silent success.
func TestFlippedByte(t *testing.T) {
	path := smallFile(t)
	if err := readAll(t, path); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := metadataPages(t, path, img)
	if len(pages) < 10 {
		t.Fatalf("only %d metadata pages", len(pages))
	}
	t.Logf("%d metadata pages of %d", len(pages), len(img)/512)
	bad := tempPath(t, "bad.pw")
	ps := 512
	for _, p := range pages {
		for off := 0; off < ps; off += 61 {
			at := int(p)*ps + off
			mod := bytes.Clone(img)
			mod[at] ^= 0x5a
			if err := os.WriteFile(bad, mod, 0o644); err != nil {
				t.Fatal(err)
			}
			err := readAll(t, bad)
			if err == nil {
				t.Fatalf("flip at page %d offset %d not detected", p, off)
			}
			if !errors.Is(err, corrupt.Err) {
				t.Fatalf("flip at page %d offset %d: error not marked corrupt: %v", p, off, err)
			}
		}
	}
}

// TestTruncated cuts a file at many lengths: each gives an error.
func TestTruncated(t *testing.T) {
	path := smallFile(t)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := tempPath(t, "cut.pw")
	for _, n := range []int{0, 1, sbSize - 1, sbSize, 511, 512, 513, 1024, len(img) / 2, len(img) - 512, len(img) - 1} {
		if err := os.WriteFile(bad, img[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		err := readAll(t, bad)
		if err == nil {
			t.Fatalf("file cut to %d of %d bytes read without error", n, len(img))
		}
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut to %d: error does not say truncated: %v", n, err)
		}
	}
}

// TestNotOurs: files that are not pwstore data files.
func TestNotOurs(t *testing.T) {
	bad := tempPath(t, "other")
	for name, content := range map[string][]byte{
		"text":  []byte(strings.Repeat("hello, world\n", 400)),
		"zeros": make([]byte, 8192),
		"hdf5":  append([]byte("\x89HDF\r\n\x1a\n"), make([]byte, 4096)...),
	} {
		if err := os.WriteFile(bad, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := openFile(t, bad, true)
		if !errors.Is(err, ErrNotPWFile) || !errors.Is(err, corrupt.Err) {
			t.Fatalf("%s: %v, want ErrNotPWFile", name, err)
		}
	}
}

// TestWrongPageSize: a page buffer, or an expected page size, that does
// not match the file's.
func TestWrongPageSize(t *testing.T) {
	path := smallFile(t)
	raw, err := vfs.OS.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, ps := range []int{1024, 4096} {
		buf := newBuffer(t, raw, ps, pagebuf.SWMRReader)
		if _, err := Open(buf, raw, Options{ReadOnly: true}); !errors.Is(err, ErrPageSize) {
			t.Fatalf("buffer of %d-byte pages: %v, want ErrPageSize", ps, err)
		}
	}
	buf := newBuffer(t, raw, 512, pagebuf.SWMRReader)
	if _, err := Open(buf, raw, Options{ReadOnly: true, PageSize: 4096}); !errors.Is(err, ErrPageSize) {
		t.Fatalf("expected page size 4096: %v, want ErrPageSize", err)
	}
	// A superblock whose page size field was changed (checksum fixed up).
	img, _ := os.ReadFile(path)
	sb, err := DecodeSuperblock(img[:512])
	if err != nil {
		t.Fatal(err)
	}
	sb.PageSize = 1024
	mod := append(sb.encode(), img[1024:]...)
	bad := tempPath(t, "ps.pw")
	if err := os.WriteFile(bad, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := readAll(t, bad); err == nil || !(errors.Is(err, corrupt.Err) || errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Fatalf("superblock with changed page size: %v", err)
	}
}

// TestSuperblockSentinels: each validation step has its own sentinel.
func TestSuperblockSentinels(t *testing.T) {
	good := (&Superblock{PageSize: 512, CatalogRoot: 1, EOA: 2}).encode()
	if _, err := DecodeSuperblock(good); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		at   int
		want error
	}{
		"magic": {0, ErrNotPWFile}, "version": {9, ErrVersion}, "pagesize": {13, ErrPageSize},
		"checksum": {20, ErrChecksum}, "padding": {300, ErrChecksum},
	} {
		img := bytes.Clone(good)
		img[tc.at] ^= 1
		if _, err := DecodeSuperblock(img); !errors.Is(err, tc.want) || !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := DecodeSuperblock(good[:sbSize-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short: %v", err)
	}
}
