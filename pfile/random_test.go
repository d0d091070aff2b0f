package pfile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRandomized runs random sequences of resizes, writes, reads and
// flushes on random datasets against an in-memory model, with a tiny
// chunk cache (or a sole writer's), then reopens, compares everything and
// checks the file.
func TestRandomized(t *testing.T) {
	types := []Type{Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float32, Float64, Bytes(3), Bytes(9)}
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			ps := []int{512, 1024, 4096}[rng.IntN(3)]
			path := tempPath(t, "rand.pw")
			deferSeal := seed%2 == 1 // odd seeds: objects sealed only at flushes
			// Seeds 2 and 3 of every four: a sole writer, whose cache mirrors
			// small chunks and writes runs of them back (the limit bounds
			// how many: 256 bytes unmirrors the oldest all the time).
			sole := seed%4 >= 2
			limit := 256
			if sole {
				limit = []int{256, 4096, 1 << 20}[rng.IntN(3)]
			}
			h := createFile(t, path, Options{PageSize: ps, RawCacheBytes: limit, DeferSeal: deferSeal, SoleWriter: sole})
			type live struct {
				ds   *Dataset
				m    *model
				max  []uint64
				path string
			}
			var all []*live
			for d := range 1 + rng.IntN(4) {
				r := 1 + rng.IntN(4)
				shape, max, chunk := make([]uint64, r), make([]uint64, r), make([]uint64, r)
				for i := range r {
					shape[i] = rng.Uint64N(6)
					max[i] = shape[i] + rng.Uint64N(5)
					chunk[i] = 1 + rng.Uint64N(4)
				}
				if rng.IntN(2) == 0 {
					max[0] = Unlimited
				}
				typ := types[rng.IntN(len(types))]
				p := fmt.Sprintf("/r/%d", d)
				ds, err := h.f.CreateDataset(p, Spec{Type: typ, Shape: shape, MaxShape: max, Chunk: chunk})
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, &live{ds, newModel(shape, typ.Size()), max, p})
			}
			for range 60 {
				l := all[rng.IntN(len(all))]
				switch op := rng.IntN(10); {
				case op < 2: // grow
					shape := clip(l.m.shape)
					for i := range shape {
						if l.max[i] == Unlimited {
							shape[i] += rng.Uint64N(4)
						} else {
							shape[i] += rng.Uint64N(l.max[i] - shape[i] + 1)
						}
					}
					if err := l.ds.Resize(shape); err != nil {
						t.Fatal(err)
					}
					l.m.grow(shape)
				case op < 6: // write
					start, count := randBox(rng, l.m.shape)
					if total(count) == 0 {
						continue
					}
					if err := l.ds.WriteSlab(start, count, l.m.slab(rng.Uint64(), start, count)); err != nil {
						t.Fatal(err)
					}
				case op < 9: // read
					start, count := randBox(rng, l.m.shape)
					want := l.m.want(start, count)
					got := make([]byte, len(want))
					if err := l.ds.ReadSlab(start, count, got); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s box %v+%v differs", l.path, start, count)
					}
				default:
					if err := h.f.FlushRaw(); err != nil {
						t.Fatal(err)
					}
					if err := h.f.Seal(); err != nil {
						t.Fatal(err)
					}
					if h.f.DirtyPages() != 0 {
						t.Fatalf("%d pages dirty after Seal", h.f.DirtyPages())
					}
				}
				if deferSeal {
					// The checker reads through the unsealed objects too.
					if err := h.f.Check(CheckOptions{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := h.f.Check(CheckOptions{}); err != nil {
				t.Fatal(err)
			}
			h.close(t)
			r := mustOpen(t, path, true)
			for _, l := range all {
				rd, err := r.f.Dataset(l.path)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(l.m.data))
				if err := rd.ReadSlab(make([]uint64, len(l.m.shape)), l.m.shape, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, l.m.data) {
					t.Fatalf("%s differs after reopen", l.path)
				}
			}
			if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
