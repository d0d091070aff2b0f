package pfile

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"pwstore/internal/storage/corrupt"
)

// The catalog maps dataset paths to dataset header addresses. It is a
// B+tree of one-page nodes: leaves hold (path, header page, header pages)
// sorted by path, 0 pages naming a header block (hblock.go); internal nodes hold separator keys and child pages, child
// i covering keys in [keys[i-1], keys[i]). Nodes split at the middle byte
// when they outgrow their page; the root's address changes when it splits
// (the superblock points at it).

// ref points at a multi-page object, or with npages 0 at a header block.
type ref struct {
	page   uint64
	npages uint32
}

type node struct {
	leaf bool
	keys []string
	refs []ref    // leaf: one per key
	kids []uint64 // internal: len(keys)+1
}

// Node payload layout sizes.
const (
	nodeFixed     = 4      // kind u8, pad u8, key count u16
	leafEntry     = 2 + 12 // key length, header page u64, header pages u32
	internalEntry = 2 + 8  // key length, child page
	maxTreeDepth  = 32     // deeper is corruption (or a cycle)
	maxPathCap    = 1024
)

// maxPathLen is the longest path a page size allows: small enough that a
// node holds four of the largest entries, so a split always yields two
// nodes that fit.
func maxPathLen(pageSize int) int {
	capacity := pageSize - objHeaderSize - nodeFixed - 8
	return min(maxPathCap, capacity/4-leafEntry)
}

func checkPath(path string, pageSize int) error {
	if path == "" || !utf8.ValidString(path) {
		return fmt.Errorf("dataset path %q: empty or not UTF-8: %w", path, ErrBadSpec)
	}
	if n := maxPathLen(pageSize); len(path) > n {
		return fmt.Errorf("dataset path of %d bytes, at most %d with %d-byte pages: %w", len(path), n, pageSize, ErrBadSpec)
	}
	return nil
}

func (n *node) size() int {
	s := nodeFixed
	if n.leaf {
		for _, k := range n.keys {
			s += leafEntry + len(k)
		}
		return s
	}
	s += 8
	for _, k := range n.keys {
		s += internalEntry + len(k)
	}
	return s
}

func (n *node) encode() []byte {
	e := enc{b: make([]byte, 0, n.size())}
	if n.leaf {
		e.u8(1)
	} else {
		e.u8(0)
	}
	e.u8(0)
	e.u16(uint16(len(n.keys)))
	if n.leaf {
		for i, k := range n.keys {
			e.str16(k)
			e.u64(n.refs[i].page)
			e.u32(n.refs[i].npages)
		}
		return e.b
	}
	e.u64(n.kids[0])
	for i, k := range n.keys {
		e.str16(k)
		e.u64(n.kids[i+1])
	}
	return e.b
}

// decodeNode decodes a node payload; every address must lie in [1, eoa).
func decodeNode(p []byte, eoa uint64) (*node, error) {
	d := dec{b: p, what: "catalog node"}
	kind := d.u8("kind")
	pad := d.u8("pad")
	nk := int(d.u16("key count"))
	n := &node{leaf: kind == 1}
	if d.err == nil && (kind > 1 || pad != 0) {
		d.fail("kind %d, pad %d", kind, pad)
	}
	if d.err == nil && nk*min(leafEntry, internalEntry) <= len(p) {
		n.keys = make([]string, 0, nk)
		if n.leaf {
			n.refs = make([]ref, 0, nk)
		} else {
			n.kids = make([]uint64, 0, nk+1)
		}
	}
	inFile := func(page uint64, np uint64, what string) {
		if d.err == nil && (page < 1 || page >= eoa || np == 0 || np > eoa-page) {
			d.fail("%s %d+%d outside [1, %d)", what, page, np, eoa)
		}
	}
	if !n.leaf {
		n.kids = append(n.kids, d.u64("child"))
		inFile(n.kids[0], 1, "child")
	}
	for i := 0; i < nk && d.err == nil; i++ {
		k := d.str16("key")
		if d.err == nil && i > 0 && k <= n.keys[i-1] {
			d.fail("key %q out of order", k)
		}
		n.keys = append(n.keys, k)
		if n.leaf {
			r := ref{d.u64("header page"), d.u32("header pages")}
			inFile(r.page, max(uint64(r.npages), 1), "header") // 0 pages: in the header block at page

			n.refs = append(n.refs, r)
		} else {
			c := d.u64("child")
			inFile(c, 1, "child")
			n.kids = append(n.kids, c)
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return n, nil
}

// loadNode returns the decoded node at page, from the cache or the pages.
func (f *File) loadNode(page uint64) (*node, error) {
	if n, ok := f.nodes[page]; ok {
		return n, nil
	}
	if page < 1 || page >= f.eoa() {
		return nil, corrupt.Errorf("catalog node page %d outside [1, %d)", page, f.eoa())
	}
	payload, _, err := f.objectPayload(magicCatalog, page, 1)
	if err != nil {
		return nil, err
	}
	n, err := decodeNode(payload, f.eoa())
	if err != nil {
		return nil, fmt.Errorf("catalog node at page %d: %w", page, err)
	}
	f.nodes[page] = n
	return n, nil
}

// writeNode writes n at page. With DeferSeal it is encoded at Seal: a
// leaf that takes many entries between seals (a dataset created per call)
// is encoded once, not once per entry.
func (f *File) writeNode(page uint64, n *node) error {
	f.nodes[page] = n
	return f.writeObjectLazy(kindCatalog, page, 1, n.encode)
}

// lookup finds path's header reference.
func (f *File) lookup(path string) (ref, bool, error) {
	page := f.sb.CatalogRoot
	for depth := 0; ; depth++ {
		if depth > maxTreeDepth {
			return ref{}, false, corrupt.Errorf("catalog deeper than %d levels", maxTreeDepth)
		}
		n, err := f.loadNode(page)
		if err != nil {
			return ref{}, false, err
		}
		i := sort.SearchStrings(n.keys, path)
		if n.leaf {
			if i < len(n.keys) && n.keys[i] == path {
				return n.refs[i], true, nil
			}
			return ref{}, false, nil
		}
		if i < len(n.keys) && n.keys[i] == path {
			i++
		}
		page = n.kids[i]
	}
}

// split is what a node that split hands up to its parent.
type split struct {
	key   string // first key of the right node
	right uint64
}

// catalogPut adds path -> r to the catalog (ErrExists if present), or with
// replace set, changes an existing entry (ErrNotFound if absent).
func (f *File) catalogPut(path string, r ref, replace bool) error {
	s, err := f.put(f.sb.CatalogRoot, path, r, replace, 0)
	if err != nil || s == nil {
		return err
	}
	root := f.allocMeta(1)
	if err := f.writeNode(root, &node{keys: []string{s.key}, kids: []uint64{f.sb.CatalogRoot, s.right}}); err != nil {
		return err
	}
	f.sb.CatalogRoot = root
	return nil
}

func (f *File) put(page uint64, path string, r ref, replace bool, depth int) (*split, error) {
	if depth > maxTreeDepth {
		return nil, corrupt.Errorf("catalog deeper than %d levels", maxTreeDepth)
	}
	n, err := f.loadNode(page)
	if err != nil {
		return nil, err
	}
	i := sort.SearchStrings(n.keys, path)
	found := i < len(n.keys) && n.keys[i] == path
	if n.leaf {
		switch {
		case found && !replace:
			return nil, fmt.Errorf("dataset %q: %w", path, ErrExists)
		case !found && replace:
			return nil, fmt.Errorf("dataset %q: %w", path, ErrNotFound)
		case found:
			n.refs[i] = r
		default:
			n.keys = insertAt(n.keys, i, path)
			n.refs = insertAt(n.refs, i, r)
		}
	} else {
		if found {
			i++
		}
		s, err := f.put(n.kids[i], path, r, replace, depth+1)
		if err != nil || s == nil {
			return nil, err
		}
		n.keys = insertAt(n.keys, i, s.key)
		n.kids = insertAt(n.kids, i+1, s.right)
	}
	if n.size() <= f.sb.PageSize-objHeaderSize {
		return nil, f.writeNode(page, n)
	}
	left, right, key := n.split()
	rp := f.allocMeta(1)
	if err := f.writeNode(page, left); err != nil {
		return nil, err
	}
	if err := f.writeNode(rp, right); err != nil {
		return nil, err
	}
	return &split{key: key, right: rp}, nil
}

// split halves an overfull node by bytes. For a leaf the separator is the
// right node's first key; for an internal node the middle key moves up.
func (n *node) split() (left, right *node, key string) {
	per := leafEntry
	if !n.leaf {
		per = internalEntry
	}
	total := n.size()
	m, acc := 0, nodeFixed
	for m < len(n.keys)-1 && acc+per+len(n.keys[m]) <= total/2 {
		acc += per + len(n.keys[m])
		m++
	}
	m = max(m, 1)
	if n.leaf {
		left = &node{leaf: true, keys: clip(n.keys[:m]), refs: clip(n.refs[:m])}
		right = &node{leaf: true, keys: clip(n.keys[m:]), refs: clip(n.refs[m:])}
		return left, right, right.keys[0]
	}
	left = &node{keys: clip(n.keys[:m]), kids: clip(n.kids[:m+1])}
	right = &node{keys: clip(n.keys[m+1:]), kids: clip(n.kids[m+1:])}
	return left, right, n.keys[m]
}

func clip[T any](s []T) []T { return append([]T(nil), s...) }

func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// walk visits every leaf entry in path order.
func (f *File) walk(visit func(path string, r ref) error) error {
	return f.walkNode(f.sb.CatalogRoot, 0, visit)
}

func (f *File) walkNode(page uint64, depth int, visit func(string, ref) error) error {
	if depth > maxTreeDepth {
		return corrupt.Errorf("catalog deeper than %d levels", maxTreeDepth)
	}
	n, err := f.loadNode(page)
	if err != nil {
		return err
	}
	if n.leaf {
		for i, k := range n.keys {
			if err := visit(k, n.refs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, c := range n.kids {
		if err := f.walkNode(c, depth+1, visit); err != nil {
			return err
		}
	}
	return nil
}
