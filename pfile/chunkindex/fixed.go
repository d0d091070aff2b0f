package chunkindex

import "fmt"

// Fixed is a fixed array: a chunk index for a dataset whose number of
// chunks n is known at creation and never changes.
type Fixed struct {
	t *tree
}

var _ Index = (*Fixed)(nil)

// CreateFixed writes the root of an empty fixed array of n chunks (one
// page) and returns its page.
func CreateFixed(st Store, n uint64) (root uint64, err error) {
	x, err := NewFixed(st, n)
	if err != nil {
		return 0, err
	}
	return x.Root(), nil
}

// NewFixed is CreateFixed returning the array open, as OpenFixed would,
// without reading back the root it wrote.
func NewFixed(st Store, n uint64) (*Fixed, error) {
	t, err := create(st, KindFixed, n)
	if err != nil {
		return nil, err
	}
	return &Fixed{t: t}, nil
}

// OpenFixed opens the fixed array rooted at root; n must be the n it was
// created with (a different n stored in the root is corruption).
func OpenFixed(st Store, root uint64, n uint64) (*Fixed, error) {
	t, _, err := open(st, KindFixed, root, n)
	if err != nil {
		return nil, err
	}
	return &Fixed{t: t}, nil
}

func (f *Fixed) inRange(i uint64) error {
	if i >= f.t.n {
		return fmt.Errorf("%w: chunk %d of a fixed array of %d", ErrRange, i, f.t.n)
	}
	return nil
}

// Get returns record i < n, or the zero Record if it was never set.
func (f *Fixed) Get(i uint64) (Record, error) {
	if err := f.inRange(i); err != nil {
		return Record{}, err
	}
	return f.t.get(i)
}

// Set stores record i < n.
func (f *Fixed) Set(i uint64, r Record) error {
	if err := f.inRange(i); err != nil {
		return err
	}
	return f.t.set(i, r)
}

// Len is n.
func (f *Fixed) Len() uint64 { return f.t.n }

// Root is the page of the array's root; it never changes.
func (f *Fixed) Root() uint64 { return f.t.root }
