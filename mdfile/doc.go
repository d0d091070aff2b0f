// Package mdfile is the VFD SWMR metadata file (NAME.pw.md): the writer
// publishes, every tick, the metadata pages changed in the tick plus an
// index of all pages the metadata file holds; readers load a consistent
// (tick, index) pair and read those pages from it, everything else from
// the data file. It knows nothing of what the pages mean.
//
// It follows the metadata file of "RFC: VFD SWMR" (section 3.5) with the
// changes of DESIGN section 6 (docs/DESIGN.md): 64-bit page numbers and lengths, a format version,
// xxhash64 checksums, the data file's identity, a status word and a
// heartbeat; and, unlike the RFC, nothing a published tick references is
// ever overwritten in place, so a crash at any point of an update leaves
// the previous tick readable.
//
// # FORMAT
//
// All integers are little-endian. The page size P (a power of two, 512 B
// to 1 MiB) is the data file's. The file is:
//
//	byte 0      header slot 0 (104 bytes)
//	byte 512    header slot 1 (104 bytes)
//	pages [ceil(1024/P), md_pages_reserved)   the index while it fits
//	pages md_pages_reserved ...                page images, index pages,
//	                                           branch pages and roots, in
//	                                           allocated space
//
// Header slot (HeaderSize = 104 bytes; slots at 0 and 512 so a reader
// finds both before it knows P):
//
//	 0  4  magic "PWMH"
//	 4  4  version (1)
//	 8  4  page size P
//	12  4  status: 1 writer open, 2 closed cleanly, 3 consumed by recovery
//	16  8  tick (>= 1)
//	24  8  index tick: tick at which the index was last changed (<= tick);
//	       a heartbeat publishes a new tick naming the same index
//	32  8  index root offset in bytes (page aligned; 0 = empty index)
//	40  8  index root length in bytes (0 = empty index)
//	48  8  xxhash64 of the index root's bytes
//	56  8  number of index entries
//	64 16  data file identity
//	80  8  writer heartbeat, Unix nanoseconds
//	88  4  max_lag
//	92  4  md_pages_reserved
//	96  8  xxhash64 of bytes 0..95
//
// The index is a three-level tree: the root lists branch pages, a branch
// page lists index pages, an index page holds entries.
//
// Index root (magic "PWMR") and branch page (magic "PWMB"), 40 + 32 n bytes:
//
//	 0  4  magic
//	 4  4  version (1)
//	 8  8  tick that wrote it (root: = the header's index tick;
//	       branch: <= its root's tick)
//	16  8  n: number of children
//	24  8  number of index entries under it
//	32     n references, 32 bytes each, sorted by first page:
//	         0 8 data-file page of the first entry under the child
//	         8 8 metadata-file page where the child starts
//	        16 4 child length in bytes (40 + 32 count for a branch,
//	             32 + 32 count for an index page)
//	        20 4 count: children of a branch, entries of an index page (>= 1)
//	        24 8 xxhash64 of the child
//	end-8  8  xxhash64 of the other bytes
//
// Index page (32 + 32 m bytes; the RFC's index, one sorted run of it):
//
//	 0  4  magic "PWML"
//	 4  4  version (1)
//	 8  8  tick that wrote it (<= its branch's tick)
//	16  8  m: number of entries
//	24     m entries, 32 bytes each, sorted by data-file page, not overlapping:
//	         0 8 data-file page
//	         8 8 metadata-file page of the image
//	        16 8 image length in bytes (a positive multiple of P;
//	             more than P for a multi-page entry)
//	        24 8 xxhash64 of the image
//	end-8  8  xxhash64 of the page's other bytes
//
// # Updates
//
// An update (Writer.Update) writes, in this order: the new page images, the
// index and branch pages it changed and a new root, all in freshly
// allocated space; then (after an fsync in durable mode) the header, into
// the slot not written last; then (durable) fsync again. The tree is
// copy-on-write: an update rewrites only the index pages holding changed
// entries, the branch pages listing those and the root (one reference per
// branch: 2 KiB for a million entries with 4 KiB pages), so its cost
// follows the pages changed, not the index size. A heartbeat
// (Writer.Heartbeat) writes one header.
//
// Space an update supersedes (old images, index and branch pages, roots)
// goes on a delayed-release list tagged with the tick and returns to the
// free-space manager only max_lag ticks later, so any header a reader (or
// recovery) may still follow points at intact bytes. The two header slots
// alternate: the slot being written is never the newest valid one.
//
// The index starts inside the reserved pages. When it no longer fits
// there it moves, for good, to allocated space; the reserved pages become
// ordinary space max_lag ticks later.
//
// # Loading
//
// A reader (Reader.Load) reads both slots and takes the valid one with the
// highest tick (torn or stale slots fail their checksum and are ignored).
// The same tick returns the same snapshot; a lower one is an error; a new
// tick naming the same index reuses it. Otherwise it reads the root
// (checksum against the header, tick against the header's index tick),
// then every branch and index page whose reference changed (checksum
// against the reference, tick not after the parent's), re-reads the header
// slot and accepts only if it is unchanged; else it retries with backoff
// up to a budget. Page images are checked against their entry's checksum
// on every read.
//
// Recovery (OpenForRecovery) takes the newest header whose index and
// every image verify; MarkConsumed then publishes status consumed.
package mdfile
