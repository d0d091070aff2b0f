package pfile

import "testing"

// TestEncodedSizes: headers and catalog nodes are encoded into one buffer
// of the size that size() computes: it must be their exact length.
func TestEncodedSizes(t *testing.T) {
	headers := []*header{
		{path: "/a", typ: Int32, shape: []uint64{0}, max: []uint64{Unlimited}, chunk: []uint64{1024}, index: 7},
		{path: "/deep/er/path", typ: Float64, shape: []uint64{3, 4, 5}, max: []uint64{3, 4, 5}, chunk: []uint64{1, 2, 5}, index: 9,
			attrs: []attr{{"dtype", StringValue("float64")}, {"n", IntValue(-3)}, {"empty", Value{Type: String}}}},
		{path: "/one", typ: Int64, shape: []uint64{2}, max: []uint64{Unlimited}, chunk: []uint64{512}, ext: ext{3, 1}, addr0: 8192},
	}
	for _, h := range headers {
		if got, want := len(h.encode()), h.size(); got != want {
			t.Errorf("header %q: encoded in %d bytes, size says %d", h.path, got, want)
		}
	}
	nodes := []*node{
		{leaf: true},
		{leaf: true, keys: []string{"/a", "/bb"}, refs: []ref{{3, 1}, {4, 2}}},
		{keys: []string{"/m"}, kids: []uint64{5, 6}},
	}
	for i, n := range nodes {
		if got, want := len(n.encode()), n.size(); got != want {
			t.Errorf("node %d: encoded in %d bytes, size says %d", i, got, want)
		}
	}
}
