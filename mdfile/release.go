package mdfile

// extent is a run of metadata-file pages.
type extent struct{ page, n uint64 }

// pendingRelease is space superseded at tick: no index written at tick or
// later references it, but readers of older ticks may.
type pendingRelease struct {
	tick uint64
	extent
}

// releaseList is the delayed-release list: superseded images and index
// pieces wait here, in tick order, until max_lag ticks have passed.
type releaseList struct {
	items []pendingRelease
	head  int // items before head have been released
}

func (l *releaseList) add(tick uint64, e extent) {
	l.items = append(l.items, pendingRelease{tick: tick, extent: e})
}

// due removes and returns the extents superseded at or before tick.
func (l *releaseList) due(tick uint64) []extent {
	var out []extent
	for l.head < len(l.items) && l.items[l.head].tick <= tick {
		out = append(out, l.items[l.head].extent)
		l.head++
	}
	if l.head > 1024 && l.head*2 > len(l.items) {
		l.items = append(l.items[:0], l.items[l.head:]...)
		l.head = 0
	}
	return out
}

// len is the number of extents waiting.
func (l *releaseList) len() int { return len(l.items) - l.head }
