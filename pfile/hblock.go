package pfile

import (
	"fmt"
	"slices"

	"pwstore/internal/storage/corrupt"
)

// Header blocks: the headers of small datasets share one-page objects
// ("PWHB"), so that a dataset costs a fraction of a page of metadata, not
// a page. A catalog entry whose page count is 0 names the block holding
// the dataset's header, found in it by path. Every header in a block has
// an extent slot (version 2 or 3); a header that outgrows its block's
// room moves to pages of its own (the catalog is repointed), and a block
// left empty is freed.
//
// Block payload: count u16, then count x {header version u8, length u16,
// header payload}, in the order the headers joined.

// Block payload layout sizes.
const (
	blockFixed = 2 // header count u16
	blockEntry = 3 // header version u8, length u16
	// maxInBlock is the largest header a block holds: its length is a u16
	// (pages of 64 KiB and more have the room for longer ones).
	maxInBlock = 1<<16 - 1
)

// hblock is a writer's header block: its members' headers, encoded
// together whenever one changes.
type hblock struct {
	page uint64
	mem  []member
	used int           // payload bytes: blockFixed + the members' entries
	enc  func() []byte // encode, made once for writeObjectLazy
}

// member is one header of a block: a dataset handed out (its header is
// authoritative), or the bytes read from the file of one not handed out
// by a writer that reopened the file.
type member struct {
	path    string
	ds      *Dataset
	version uint16
	raw     []byte
	n       int // entry bytes, as last encoded or measured
}

// add appends a member read from the file.
func (b *hblock) add(m member) {
	m.n = blockEntry + len(m.raw)
	b.mem = append(b.mem, m)
	b.used += m.n
}

func newBlock(page uint64) *hblock {
	b := &hblock{page: page, used: blockFixed}
	b.enc = b.encode
	return b
}

// blockRoom is the payload bytes a block of the page size holds.
func blockRoom(pageSize int) int { return pageSize - objHeaderSize }

// fitsBlock says whether a header of n bytes may be in a block at all.
func fitsBlock(n, pageSize int) bool {
	return n <= maxInBlock && blockFixed+blockEntry+n <= blockRoom(pageSize)
}

// join adds ds's header to the block, if it fits.
func (b *hblock) join(ds *Dataset, pageSize int) bool {
	n := blockEntry + ds.h.size()
	if b.used+n > blockRoom(pageSize) || n-blockEntry > maxInBlock {
		return false
	}
	b.mem = append(b.mem, member{path: ds.path, ds: ds, n: n})
	b.used += n
	return true
}

// refit measures ds's header again after it changed; it says whether the
// members still fit.
func (b *hblock) refit(ds *Dataset, pageSize int) bool {
	i := slices.IndexFunc(b.mem, func(m member) bool { return m.ds == ds })
	n := blockEntry + ds.h.size()
	b.used += n - b.mem[i].n
	b.mem[i].n = n
	return n-blockEntry <= maxInBlock && b.used <= blockRoom(pageSize)
}

// leave takes ds's header out of the block.
func (b *hblock) leave(ds *Dataset) {
	i := slices.IndexFunc(b.mem, func(m member) bool { return m.ds == ds })
	b.used -= b.mem[i].n
	b.mem = slices.Delete(b.mem, i, i+1)
}

func (b *hblock) encode() []byte {
	e := enc{b: make([]byte, 0, b.used)}
	e.u16(uint16(len(b.mem)))
	for i := range b.mem {
		m := &b.mem[i]
		if m.ds == nil {
			e.u8(uint8(m.version))
			e.u16(uint16(len(m.raw)))
			e.b = append(e.b, m.raw...)
			continue
		}
		h := m.ds.h
		e.u8(uint8(h.kind().version))
		e.u16(uint16(h.size()))
		h.put(&e)
	}
	return e.b
}

// blockHeader is one entry of a decoded block.
type blockHeader struct {
	h       *header
	version uint16
	raw     []byte // the entry's header payload
}

// decodeBlock decodes a header block payload: every header is decoded and
// checked as decodeHeader does (of version 2 or 3), without its shape.
func decodeBlock(p []byte, eoa uint64, pageSize int) ([]blockHeader, error) {
	d := dec{b: p, what: "header block"}
	n := int(d.u16("header count"))
	var out []blockHeader
	if d.err == nil && n*blockEntry <= len(p) {
		out = make([]blockHeader, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		v := uint16(d.u8("header version"))
		raw := d.take(int(d.u16("header length")), "header")
		if d.err != nil {
			break
		}
		if v != headerV2 && v != headerV3 {
			d.fail("header %d of version %d", i, v)
			break
		}
		h, err := decodeHeader(raw, v, eoa, pageSize)
		if err != nil {
			return nil, fmt.Errorf("header block entry %d: %w", i, err)
		}
		out = append(out, blockHeader{h, v, raw})
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, nil
}

// readBlock reads and decodes the header block at page.
func (f *File) readBlock(page uint64) ([]blockHeader, error) {
	if eoa := f.eoa(); page < 1 || page >= eoa {
		return nil, corrupt.Errorf("header block at page %d outside [1, %d)", page, eoa)
	}
	p, _, err := f.objectPayload(magicBlock, page, 1)
	if err != nil {
		return nil, err
	}
	hs, err := decodeBlock(p, f.eoa(), f.sb.PageSize)
	if err != nil {
		return nil, fmt.Errorf("header block at page %d: %w", page, err)
	}
	return hs, nil
}

// findInBlock is the header of path in the block at page, decoded from
// the block's bytes. A reader keeps the decoded block until its page is
// evicted, so that loading every dataset of a block decodes it once; a
// writer keeps a block of an earlier session it reads (writerBlock), so
// that adopting the dataset does not read it again.
func (f *File) findInBlock(page uint64, path string) (*header, error) {
	hs, ok := f.rblocks[page]
	if !ok {
		var err error
		if hs, err = f.readBlock(page); err != nil {
			return nil, err
		}
		if f.ro {
			f.rblocks[page] = hs
		} else if _, held := f.blocks[page]; !held {
			f.blocks[page] = blockOf(page, hs)
		}
	}
	for _, bh := range hs {
		if bh.h.path == path {
			return bh.h, nil
		}
	}
	return nil, corrupt.Errorf("header block at page %d holds no header of %q", page, path)
}

// writerBlock is a writer's block at page: one it made, or one of an
// earlier session, read the first time one of its datasets is opened.
func (f *File) writerBlock(page uint64) (*hblock, error) {
	if b, ok := f.blocks[page]; ok {
		return b, nil
	}
	hs, err := f.readBlock(page)
	if err != nil {
		return nil, err
	}
	b := blockOf(page, hs)
	f.blocks[page] = b
	return b, nil
}

// blockOf is a writer's block of the headers read from it: members that
// keep their bytes until their datasets are opened (adopt).
func blockOf(page uint64, hs []blockHeader) *hblock {
	b := newBlock(page)
	for _, bh := range hs {
		b.add(member{path: bh.h.path, version: bh.version, raw: slices.Clone(bh.raw)})
	}
	return b
}

// adopt makes ds, just loaded by a writer from the block at ds.at.page,
// the member of its path: from now on its header is encoded from ds. (A
// handle loaded before, whose load then failed, is replaced: its header
// was decoded from the same bytes.)
func (b *hblock) adopt(ds *Dataset) error {
	for i := range b.mem {
		if m := &b.mem[i]; m.path == ds.path {
			m.ds, m.raw = ds, nil
			ds.blk = b
			return nil
		}
	}
	return corrupt.Errorf("header block at page %d holds no header of %q", b.page, ds.path)
}

// write hands the block to the File as changed (encoded at Seal with
// DeferSeal, else now).
func (b *hblock) write(f *File) error {
	return f.writeObjectLazy(kindBlock, b.page, 1, b.enc)
}

// placeHeader gives a new dataset's header its place: the open header
// block if it has room, else a new block, else (a header too large for any
// block) pages of its own; and writes it.
func (f *File) placeHeader(ds *Dataset) error {
	ps := f.sb.PageSize
	if fitsBlock(ds.h.size(), ps) {
		if f.blk == nil || !f.blk.join(ds, ps) {
			f.blk = newBlock(f.allocMeta(1))
			f.blocks[f.blk.page] = f.blk
			f.blk.join(ds, ps)
		}
		ds.blk, ds.at = f.blk, ref{f.blk.page, 0}
		return f.blk.write(f)
	}
	p := ds.h.encode()
	np := pagesFor(len(p), ps)
	ds.at = ref{f.allocMeta(np), uint32(np)}
	return f.writeObject(ds.h.kind(), ds.at.page, np, p)
}
