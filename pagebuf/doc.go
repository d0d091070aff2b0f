// Package pagebuf is the page buffer of pwstore (DESIGN section 5, after
// "RFC: VFD SWMR", section 3.4): it holds metadata pages and multi-page entries of the data file by page
// address, loads them through a Backend, writes dirty ones back, and, for a
// SWMR writer, keeps the tick list and the delayed write list that keep a
// lagging reader from ever meeting "a message from the future".
//
// It knows nothing of file formats, the metadata file or NATS: it deals in
// page addresses (data-file page numbers) and byte images a whole number of
// pages long. An entry is a single page or a multi-page entry (npages > 1)
// keyed by its first page.
//
// A Buffer is not safe for concurrent use: its owner (coord) serialises every
// call, including the eviction hook it installs.
//
// # Structures
//
// Every entry is in a power-of-two hash table with chaining (the hash is the
// page address masked by the table size, so neighbouring pages, which
// sequential allocation makes hot together, fall in neighbouring buckets; the
// search statistics show whether that holds) and on the index list used for
// scans. Besides that an entry is on at most one of:
//
//   - the LRU: clean entries, and in Plain mode dirty ones too. Eviction takes
//     clean entries from the tail; a dirty entry reaching the tail gets a
//     second chance: it is written back and moved to the head.
//   - the delayed write list (DWL), kept in SWMRWriter mode and for a
//     Follower: every dirty entry, ordered by the first tick at which it may
//     be written to the data file. Entries on it are never evicted. At an
//     end of tick the entries whose delay is over are written back in page
//     order, those on adjacent pages in one write.
//
// and, in SWMRWriter mode, also on the tick list while it was changed in the
// current tick (never evicted, never written).
//
// # The delay rule (SWMRWriter)
//
// An entry changed in tick T goes into the metadata-file index published at
// the end of T. A reader lagging at tick t < T reads that page from the data
// file if its own index does not list it, so the data file may get the new
// image only when no valid reader can be at a tick before T any more: at tick
// T+max_lag. That applies when the page existed in the data file outside the
// index (it was loaded from the Backend, written back before, or written with
// fresh=false). A fresh page (just allocated, unreachable in older snapshots)
// or a page that has stayed in the index since it became reachable may be
// written from tick T+1 on, once the index naming its image is published.
// The buffer remembers, for each page in the index, the tick it last changed,
// whether its current image has reached the data file and the first tick its
// writes are safe; a page leaves the index once its current image is in the
// data file and it has not changed for max_lag ticks, or when it is freed.
//
// The Backend write of a delayed entry happens during a tick t >= its delay,
// or inside EndTick(t) (before index t is published) under the same rule.
// A coordinator whose readers may lag longer than max_lag ticks (a lag
// window in time) says which tick every reader has reached (SetOldest):
// an entry changed in T then also waits until that is T or later.
// The coordinator must publish index t before it calls the buffer again.
//
// WriteAll ends the delays: once the writer has published its last tick
// and told readers that it is finalising (coord's Close, see the mdfile
// package doc), every dirty entry is written back at once, and every later
// write back too.
//
// The buffer trusts fresh=true only as far as it knows nothing better: an
// entry it loaded, wrote back, or holds in the index is treated by what it
// knows. For a page it holds no trace of, fresh=true must be true.
//
// Entries never overlap: reading or writing a range that overlaps another
// held entry is an error (ErrShape).
//
// # Parallel writer
//
// All writer ranks perform the same Writes. Rank 0 (Leader) writes back and
// reports the pages it wrote, still unchanged since, through TakeWritten; the
// other ranks (Follower) never write to the Backend, keep dirty entries until
// MarkClean names them, and never evict a dirty entry. Stream gives the
// running xxhash64 digest of the dirty-metadata stream (page address as 8
// little-endian bytes, then the image, for each Write) that the sync points
// compare between ranks; a one-rank writer turns it off (NoStream).
//
// WriteUsed is Write with the writer's word that the image is zeros from
// some byte on; the end of tick hands the count on (Change.Zeros) so that
// the metadata file neither reads nor searches those zeros.
//
// # Reservation for raw data
//
// The RFC lets a user reserve part of the buffer for metadata and part for
// raw data. Raw data never enters this buffer in pwstore (pfile writes chunks
// straight to the data file), so every entry is metadata and a metadata
// reservation below capacity could never bind; it is left out on purpose.
package pagebuf
