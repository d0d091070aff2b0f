package pagebuf

// Stats are the buffer's counters (since New) and current sizes with their
// maxima. Entries count pages and multi-page entries alike.
type Stats struct {
	Accesses   int64 // Read and Write calls
	Hits       int64 // ... that found the entry held
	Misses     int64 // Reads that did not
	Loads      int64 // entries read through the Backend
	Insertions int64 // entries added
	Flushes    int64 // write-backs to the Backend
	Evictions  int64 // clean entries dropped to make room (or, for a writer, clean multi-page entries)
	Clears     int64 // entries dropped by Free
	// Invalidations counts entries dropped by Invalidate.
	Invalidations int64
	// DelayedWrites counts changes that had to wait more than one tick to
	// reach the data file; TotalDelay sums, over them, the ticks from the
	// change to the first tick the write was allowed.
	DelayedWrites  int64
	TotalDelay     int64
	DWLInsertDepth int64 // entries passed to keep the delayed write list ordered
	DirtySkips     int64 // dirty entries passed over by eviction because they may not be written
	OverCapacity   int64 // operations that left the buffer over capacity (nothing more could go)
	Ticks          int64 // EndTick calls

	// Hash table.
	Buckets          int   // buckets (a power of two)
	UsedBuckets      int   // non-empty buckets
	LongestChain     int   // entries in the fullest bucket now
	TableInsertions  int64 // entries put in the table
	TableDeletions   int64 // entries taken out
	FoundSearches    int64 // searches that found their entry ...
	FoundDepth       int64 // ... and the other entries they passed
	FailedSearches   int64 // searches that did not ...
	FailedDepth      int64 // ... and the entries they passed
	MaxSearchDepth   int   // the most entries a search passed
	Entries          int   // held entries
	Pages            int   // pages they hold
	DirtyEntries     int   // dirty entries
	MultiPageEntries int   // entries of more than one page
	LRULen           int
	LRUPages         int
	DWLLen           int
	DWLPages         int
	TickLen          int
	TickBytes        int64

	MaxEntries, MaxPages, MaxDirtyEntries, MaxMultiPageEntries int
	MaxLRULen, MaxDWLLen, MaxTickLen                           int
	MaxTickBytes                                               int64
}

// Stats returns a snapshot of the counters and sizes.
func (b *Buffer) Stats() Stats {
	s := b.st
	s.Buckets = len(b.tab.buckets)
	s.UsedBuckets, s.LongestChain = b.tab.chains()
	s.TableInsertions, s.TableDeletions = b.tab.insertions, b.tab.deletions
	s.FoundSearches, s.FoundDepth = b.tab.hits, b.tab.hitDepth
	s.FailedSearches, s.FailedDepth = b.tab.misses, b.tab.missDepth
	s.MaxSearchDepth = b.tab.maxSearchDepth
	s.Entries, s.Pages = b.all.len, b.all.pages
	s.DirtyEntries, s.MultiPageEntries = b.dirty, b.multi
	s.LRULen, s.LRUPages = b.lru.len, b.lru.pages
	s.DWLLen, s.DWLPages = b.dwl.len, b.dwl.pages
	s.TickLen, s.TickBytes = b.tick.len, b.TickBytes()
	return s
}

// noteMax updates the maxima after an operation.
func (b *Buffer) noteMax() {
	s := &b.st
	s.MaxEntries = max(s.MaxEntries, b.all.len)
	s.MaxPages = max(s.MaxPages, b.all.pages)
	s.MaxDirtyEntries = max(s.MaxDirtyEntries, b.dirty)
	s.MaxMultiPageEntries = max(s.MaxMultiPageEntries, b.multi)
	s.MaxLRULen = max(s.MaxLRULen, b.lru.len)
	s.MaxDWLLen = max(s.MaxDWLLen, b.dwl.len)
	s.MaxTickLen = max(s.MaxTickLen, b.tick.len)
	s.MaxTickBytes = max(s.MaxTickBytes, b.TickBytes())
}
