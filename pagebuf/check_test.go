package pagebuf

import (
	"errors"
	"testing"
)

// The invariant check catches each kind of damage it is meant to.
func TestCheckInvariantsCatches(t *testing.T) {
	setup := func() *Buffer {
		b, err := New(Config{PageSize: ps, MaxPages: 10, Mode: SWMRWriter, MaxLag: 3}, newMem(ps))
		if err != nil {
			t.Fatal(err)
		}
		for p := uint64(0); p < 4; p++ {
			if err := b.Write(p*3, img(ps, p*3, 1+int(p%2), 1), p%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.EndTick(1); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Read(40, 1); err != nil {
			t.Fatal(err)
		}
		if err := b.Write(0, img(ps, 0, 1, 2), false); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, damage := range map[string]func(b *Buffer){
		"dirty count":      func(b *Buffer) { b.dirty++ },
		"list length":      func(b *Buffer) { b.lru.len++ },
		"list pages":       func(b *Buffer) { b.dwl.pages-- },
		"clean on DWL":     func(b *Buffer) { b.dwl.tail.dirty = false; b.dirty-- },
		"dirty on LRU":     func(b *Buffer) { b.lru.head.dirty = true; b.dirty++ },
		"DWL order":        func(b *Buffer) { b.dwl.head.writeAt = 1 << 40 },
		"tick flag":        func(b *Buffer) { b.dwl.tail.onTick = !b.dwl.tail.onTick },
		"wrong bucket":     func(b *Buffer) { e := b.tab.get(40); b.tab.del(e); e.page = 41; b.tab.buckets[40] = e; b.tab.n++ },
		"table count":      func(b *Buffer) { b.tab.n-- },
		"image size":       func(b *Buffer) { b.lru.head.data = b.lru.head.data[:1] },
		"cover map":        func(b *Buffer) { clear(b.cover) },
		"broken back link": func(b *Buffer) { b.all.tail.idx.prev = nil },
		"unindexed dirty":  func(b *Buffer) { clear(b.indexed) },
		"delay past lag":   func(b *Buffer) { b.dwl.tail.writeAt = b.cur + 10 },
		"vouched zeros":    func(b *Buffer) { b.dwl.tail.zeros = 8 },
	} {
		b := setup()
		damage(b)
		if err := b.CheckInvariants(); !errors.Is(err, ErrInvariant) {
			t.Errorf("%s: not caught (%v)", name, err)
		}
	}
}

// The table doubles when it holds more entries than buckets (here: a tick
// list far beyond capacity), and every entry stays findable.
func TestTableGrows(t *testing.T) {
	b := writer(t, 3, 1, newMem(ps))
	for p := uint64(0); p < 300; p++ {
		mustWrite(t, b, p*5, img(ps, p*5, 1, 1), true)
	}
	st := b.Stats()
	if st.Buckets != 512 || st.Entries != 300 || st.TickLen != 300 {
		t.Fatalf("after 300 entries: %+v", st)
	}
	for p := uint64(0); p < 300; p++ {
		mustRead(t, b, p*5, 1)
	}
	if b.Stats().Loads != 0 {
		t.Fatal("an entry got lost when the table grew")
	}
}
