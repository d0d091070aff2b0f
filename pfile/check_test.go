package pfile

import (
	"errors"
	"strings"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// TestCheckFindsProblems: the consistency check is not a rubber stamp.
// Each case damages a file through internal calls, keeping every checksum
// valid, and Check must name the problem.
func TestCheckFindsProblems(t *testing.T) {
	cases := map[string]struct {
		damage func(t *testing.T, f *File, a, b *Dataset)
		want   string
	}{
		"shared chunk": {func(t *testing.T, f *File, a, b *Dataset) {
			ib, _ := b.index()
			rb, _ := ib.Get(0)
			ia, _ := a.index()
			if err := ia.Set(1, rb); err != nil {
				t.Fatal(err)
			}
		}, "overlaps"},
		"chunk of wrong size": {func(t *testing.T, f *File, a, b *Dataset) {
			ia, _ := a.index()
			r, _ := ia.Get(0)
			r.Size++
			if err := ia.Set(0, r); err != nil {
				t.Fatal(err)
			}
		}, "want size"},
		"chunk beyond the end": {func(t *testing.T, f *File, a, b *Dataset) {
			ia, _ := a.index()
			r, _ := ia.Get(0)
			r.Addr = f.al.eoa * uint64(f.sb.PageSize)
			if err := ia.Set(0, r); err != nil {
				t.Fatal(err)
			}
		}, "chunk"},
		"record past the shape": {func(t *testing.T, f *File, a, b *Dataset) {
			ia, _ := a.index()
			if err := ia.Set(1000, Record{Addr: uint64(f.sb.PageSize), Size: 1}); err != nil {
				t.Fatal(err)
			}
		}, "records"},
		"header in free space": {func(t *testing.T, f *File, a, b *Dataset) {
			f.al.insertFree(extent{a.at.page, 1})
		}, "overlaps"},
		"catalog points at the wrong header": {func(t *testing.T, f *File, a, b *Dataset) {
			// A header of its own: b's, grown out of its block.
			if err := b.SetAttr("big", StringValue(strings.Repeat("x", 2*DefaultPageSize))); err != nil {
				t.Fatal(err)
			}
			if err := f.catalogPut(a.path, b.at, true); err != nil {
				t.Fatal(err)
			}
		}, "points at the header"},
		"catalog points at a header block without the header": {func(t *testing.T, f *File, a, b *Dataset) {
			blk := a.at
			if err := a.SetAttr("big", StringValue(strings.Repeat("x", 2*DefaultPageSize))); err != nil {
				t.Fatal(err)
			}
			if err := f.catalogPut(a.path, blk, true); err != nil {
				t.Fatal(err)
			}
		}, "holds no header"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := createFile(t, tempPath(t, "chk.pw"), Options{})
			spec := Spec{Type: Int32, Shape: []uint64{4}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{2}}
			a, err := h.f.CreateDataset("/a", spec)
			if err != nil {
				t.Fatal(err)
			}
			b, err := h.f.CreateDataset("/b", spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.f.Check(CheckOptions{}); err != nil {
				t.Fatalf("intact: %v", err)
			}
			tc.damage(t, h.f, a, b)
			err = h.f.Check(CheckOptions{})
			if err == nil || !errors.Is(err, corrupt.Err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check after damage: %v, want an error about %q", err, tc.want)
			}
		})
	}
}
