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
//	byte 0      header slot 0 (112 bytes)
//	byte 512    header slot 1 (112 bytes)
//	bytes [1024, md_pages_reserved x P)   the index while it fits
//	bytes md_pages_reserved x P ...       stored page images, index pages,
//	                                      branch pages and roots, in
//	                                      allocated space
//
// Nothing is page aligned but the header slots: every other structure
// starts at any byte offset from 1024 on (the writer happens to use
// multiples of 16) and is as long as its bytes.
//
// Header slot (HeaderSize = 112 bytes; slots at 0 and 512 so a reader
// finds both before it knows P):
//
//	 0  4  magic "PWMH"
//	 4  4  header version (4; a reader refuses any but 3 and 4 with
//	       ErrBadVersion: version 2 had no status 4, and a version 2
//	       reader must not take a finalising slot for a bad one; a
//	       version 3 reader does not know the oldest tick, and must not
//	       judge lag by max_lag alone in a file whose writer gives
//	       readers a lag window in time)
//	 8  4  page size P
//	12  4  status: 1 writer open, 2 closed cleanly, 3 consumed by
//	       recovery, 4 finalising (see Finalising)
//	16  8  tick (>= 1)
//	24  8  index tick: tick at which the index was last changed (<= tick);
//	       a heartbeat publishes a new tick naming the same index
//	32  8  index root offset in bytes (>= 1024; 0 = empty index)
//	40  8  index root length in bytes (0 = empty index)
//	48  8  xxhash64 of the index root's bytes
//	56  8  number of index entries
//	64 16  data file identity
//	80  8  writer heartbeat, Unix nanoseconds
//	88  4  max_lag
//	92  4  md_pages_reserved
//	96  8  oldest tick: the oldest tick a reader may still be on
//	       (1 <= it <= tick; see "Lag")
//	104 8  xxhash64 of bytes 0..103
//
// Version 3 (written before the oldest tick existed, still read) is the
// same up to byte 95, then the xxhash64 of bytes 0..95 at 96: 104 bytes.
// Its oldest tick is tick - max_lag + 1 (at least 1), the rule its
// writers kept.
//
// The index is a three-level tree: the root lists branch pages, a branch
// page lists index pages, an index page holds entries.
//
// Index root (magic "PWMR") and branch page (magic "PWMB"), 40 + 32 n bytes:
//
//	 0  4  magic
//	 4  4  version (2)
//	 8  8  tick that wrote it (root: = the header's index tick;
//	       branch: <= its root's tick)
//	16  8  n: number of children
//	24  8  number of index entries under it
//	32     n references, 32 bytes each, sorted by first page:
//	         0 8 data-file page of the first entry under the child
//	         8 8 metadata-file byte offset of the child (>= 1024)
//	        16 4 child length in bytes (40 + 32 count for a branch,
//	             32 + 32 count for an index page)
//	        20 4 count: children of a branch, entries of an index page (>= 1)
//	        24 8 xxhash64 of the child
//	end-8  8  xxhash64 of the other bytes
//
// Index page (32 + 36 m bytes; the RFC's index, one sorted run of it):
//
//	 0  4  magic "PWML"
//	 4  4  version (2)
//	 8  8  tick that wrote it (<= its branch's tick)
//	16  8  m: number of entries
//	24     m entries, 36 bytes each, sorted by data-file page, not overlapping:
//	         0 8 data-file page
//	         8 8 metadata-file byte offset of the stored image (>= 1024)
//	        16 4 image length in pages (>= 1; more than 1 for a
//	             multi-page entry)
//	        20 4 stored bytes S (<= the image length L)
//	        24 4 tail T (<= S): the last T stored bytes end the image
//	        28 8 xxhash64 of the whole image, as a reader uses it: the
//	             first S-T stored bytes, L-S zeros, the last T stored bytes
//	end-8  8  xxhash64 of the page's other bytes
//
// A page image is stored without a run of zeros: metadata pages (dataset
// headers, chunk-index roots and blocks, catalog nodes) hold a few dozen
// to a few hundred bytes of a 4 KiB page, at its start, and some end with
// a checksum, so cutting out only a zero tail would keep the whole page
// of those. The writer cuts out the last run that holds an aligned zero
// word (the zeros that end the page, or those before the nonzero words
// that end it) and stores what precedes it and what follows it, back to
// back; an all-zero page stores nothing. Readers need not know how the
// run was chosen. (A caller that knows how many zeros end an image says
// so, Image.Zeros: the writer then finds the run and the checksum without
// reading them, and stores the same bytes.) A reader reads the S bytes, moves the
// tail to the end of its buffer, zero-fills between and checks the whole
// page against the entry's checksum. A stored length that cannot be right is corruption:
// longer than the image (the decoder refuses it), stored bytes that do
// not surround a run of zeros (the writer cuts out a whole run), or a
// page that fails the checksum. Stored bytes running past the end of the
// file are a short read (io.ErrUnexpectedEOF), as for an index piece: a
// reader on a tick older than the oldest tick can meet a file its writer
// shrank.
//
// # Updates
//
// An update (Writer.Update) writes, in this order: the new page images, the
// index and branch pages it changed and a new root, all in freshly
// allocated space; then (after an fsync in durable mode) the header, into
// the slot not written last; then (durable) fsync again. The images and
// index pieces of one update are packed one after the other into one run
// of free space (while the index lives in the reserved pages, one run
// there for the index and one outside for the images), so that an end of
// tick is a few large writes plus the header, however scattered the
// changed pages are in the index. The tree is
// copy-on-write: an update rewrites only the index pages holding changed
// entries, the branch pages listing those and the root (one reference per
// branch: 4 KiB for a million entries with 4 KiB pages, branches being
// filled to half a page so that each changed index page rewrites less),
// so its cost follows the pages changed, not the index size. A heartbeat
// (Writer.Heartbeat) writes one header.
//
// Space an update supersedes (old images, index and branch pages, roots)
// goes on a delayed-release list tagged with the tick and returns to the
// free-space manager only once that tick is before the oldest tick a
// header named (see "Lag"): max_lag ticks later at least, so any header a
// reader (or recovery) may still follow points at intact bytes. The two
// header slots alternate: the slot being written is never the newest
// valid one.
//
// # Lag
//
// Every header names the oldest tick a reader may still be on, O. The
// writer's promise: nothing a tick r >= O names - the metadata-file space
// of its index and images, and (its caller's part) the data-file pages a
// reader of r reads and the data-file space r's objects occupy - is
// overwritten or reused until a header with an oldest tick above r is
// published. A reader checks the newest header after every page it loads
// (Reader.CheckLag) and is too far behind (ErrTooFarBehind) when its tick
// is below that header's O. Why a page it keeps is intact: the header it
// read after the page has O <= its tick, and oldest ticks never decrease,
// so no header with an oldest tick above its tick was published before
// that read; the writer destroys nothing of the reader's tick before
// publishing one, so the page was intact when loaded (reads and writes
// go through one node's page cache, whose order every process sees, as
// for Finalising). A torn newest slot does not count as published: the
// writer destroys only after the header write returned.
//
// O is never above tick - max_lag + 1 (the ticks rule: a reader may lag
// max_lag - 1 ticks, the rule of version 3). With a lag window in time
// (WriterOptions.KeepFor) the writer also keeps every tick superseded (its
// next tick published) less than KeepFor ago, so a reader has max_lag
// ticks or KeepFor, whichever is longer: a writer that publishes every
// few milliseconds does not shorten the time a reader may take. Space
// superseded at tick s was last named by tick s - 1 and is released once
// s < O. A writer that publishes rarely holds nothing longer than the
// ticks rule; one that publishes often holds KeepFor's worth of
// superseded space.
//
// # Free space
//
// The writer allocates in granules of 16 bytes: a bitmap with a segment
// tree over it (first fit in O(log n), coalescing implicit). Each stored
// image and index piece owns the granules it covers, and is released on
// its own, once the oldest tick passes the update that superseded it (max_lag
// ticks later at least); the run an update
// was packed into is only where its objects happened to be placed, not a
// unit of release. So the space follows what is live: a dataset header
// rewritten every tick frees its 144 bytes while its neighbours in the
// same run stay, and nothing ever pins a whole run (no compaction is
// needed, unlike a log whose segments are freed as a whole). The price is
// fragmentation: an update first asks for one hole holding all its bytes;
// if there is none, it takes the largest holes of at least 8 KiB (and
// at least a sixteenth of the update), and only if there are none either,
// the end of the file. A tick's bytes thus land in at most about sixteen
// runs, small holes wait until their neighbours free up and coalesce with
// them, and the file shrinks when its tail comes free. In a steady
// workload each tick supersedes about what it writes, so the file holds
// the live objects plus max_lag ticks (or KeepFor) of superseded ones.
//
// The index starts inside the reserved pages. When it no longer fits
// there it moves, for good, to allocated space; the reserved pages become
// ordinary space once the oldest tick passes the move.
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
// every image verify; MarkFinalising publishes it again as finalising
// before recovery writes the images into the data file, MarkConsumed
// then publishes status consumed.
//
// # Finalising
//
// A writer delays each page it changes max_lag ticks before writing it
// into the data file, because a reader on a tick before the change reads
// that page from the data file (its index does not list it) and must get
// the image of its own tick. Waiting out those ticks at close cost up to
// max_lag ticks (a second at the defaults). Instead a closing writer:
//
//  1. publishes its last tick T as usual (every change in this file);
//  2. publishes tick T+1 with the same index and status finalising
//     (Writer.Finalise: one header, synced in durable mode);
//  3. only then writes every page it still delays into the data file, at
//     once; each is the image T's index lists;
//  4. syncs the data file (durable mode), publishes T+2 closed with an
//     empty index (Writer.Close) and removes this file.
//
// A reader checks the newest header after every page it loads, for lag.
// If that header is not open (finalising, closed or consumed) and newer
// than the reader's tick, while the reader's own tick is open, the page
// may be one written in step 3: the reader drops it and whatever the call
// read, adopts the newest tick and runs the call again. Why that is safe:
//
//   - A page loaded before step 2 is visible is right for the reader's
//     tick: nothing is written early before the mark (the order is the
//     writer's, and step 3 starts after the header write returns).
//   - A page loaded after an early write is seen with the mark: the reader
//     reads the header after the page, and a write it saw followed the
//     header write. Reads and writes go through one node's page cache,
//     whose order every process sees: the assumption the lag check
//     already makes.
//   - The newest tick (T+1, T+2) is final: its contents are T's. At T+1
//     the index still lists every page written early (a page leaves the
//     index only once written back), so the reader takes them from this
//     file; pages the index does not list were not written. At T+2 (after
//     the data file holds everything) the data file alone is right. A
//     reader on T+1 or later never needs to move again.
//   - The call reruns whole, so it never mixes pages of two ticks; pages
//     the reader kept from before are those of its own tick, evicted
//     where the new index changed them, as at any tick.
//
// A writer that dies in step 3 leaves status finalising, which counts as
// open (Status.Live): recovery watches its heartbeat, then writes T's index
// into the data file as for any crash. The early writes wrote the same
// images, so nothing is lost and nothing differs.
package mdfile
