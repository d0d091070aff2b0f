// Package pfile is the data file of a pwstore checkpoint: superblock,
// catalog of datasets, dataset headers with attributes, chunk indexes
// (package chunkindex), and the allocation of pages and raw space.
//
// It knows nothing of ticks, the metadata file or NATS. Every metadata
// page is read and written through the Pages interface (the page buffer);
// raw chunk bytes go straight to the data file through a vfs.File.
//
// # Layout
//
// The file is a sequence of pages of PageSize bytes (a power of two, 512 B
// to 1 MiB). Page 0 is the superblock; everything else is allocated. All
// integers are little endian.
//
// Superblock, page 0 (the rest of the page is zero):
//
//	0   magic      [8]byte  0x89 'P' 'W' 'S' '\r' '\n' 0x1a '\n'
//	8   version    u32      3 (2: files written before header blocks, 1: before
//	                        extent tables; the layout of this page is that of 2)
//	12  page size  u32
//	16  file id    [16]byte random at creation (or given by the caller)
//	32  catalog    u64      page of the catalog B+tree root
//	40  EOA        u64      end of allocation, pages
//	48  free list  u64      page of the persisted free list, 0 if none
//	56  free pages u32      its length in pages
//	60  reserved   u32      zero
//	64  checksum   u64      xxhash64 of the whole page but these 8 bytes
//	72  extents    u64      page of the open extent table, 0 if none (zero in version 1)
//
// Every other metadata object this package writes is framed as one entry
// of whole pages (a "multi-page entry" when over one page):
//
//	0   magic      [4]byte  "PWCN" catalog node, "PWDH" dataset header,
//	                        "PWFS" free list, "PWXT" extent table,
//	                        "PWHB" header block
//	4   version    u16      1; dataset headers 1, 2 or 3
//	6   reserved   u16      zero
//	8   length     u32      payload bytes
//	12  pages      u32      length of the entry in pages
//	16  self       u64      the page the object lives at (misplaced writes show)
//	24  checksum   u64      xxhash64 of the whole entry but these 8 bytes
//	32  payload, then zeros to the end of the entry
//
// Catalog node payload (one page; a B+tree keyed by dataset path):
//
//	kind u8 (1 leaf, 0 internal), pad u8 (0), key count u16
//	leaf:     count x {key length u16, key, header page u64, header pages u32}
//	          (0 header pages: the header is in the header block at that page)
//	internal: child page u64, then count x {key length u16, key, child page u64}
//
// Keys ascend; child i of an internal node holds keys in [key i-1, key i).
// Paths are at most 1024 bytes, less with small pages so that a node holds
// four of the longest entries and a split always gives two nodes that fit.
//
// Dataset header payload, versions 2 and 3 (what this code writes):
//
//	path length u16, path
//	type kind u8, type length u32 (bytes for fixed-length byte strings, else 0)
//	rank u8, then rank x {max shape u64 (Unlimited = 2^64-1), chunk u64}
//	extent table page u64, extent slot u32 (where the current shape lives)
//	version 2: index kind u8 (1 extensible, 2 fixed), chunk index root page u64
//	version 3: index kind u8 (3 single chunk), chunk 0's byte address u64
//	    (0 while the shape covers no chunk)
//	attribute count u32, then count x {name length u16, name, kind u8,
//	    type length u32, data length u32, data}, sorted by name
//
// Version 3 is the header of a dataset whose shape has never covered a
// chunk other than chunk 0: it has no chunk index pages. The first growth
// into another chunk makes the index (extensible or fixed, as in version
// 2), records chunk 0 in it and rewrites the header as version 2, in place
// (the same length). Version 1 (read, and kept by a writer for the
// datasets it finds in it) has rank x {shape u64, max shape u64, chunk
// u64} and no extent fields.
//
// Header block payload (one page): count u16, then count x {header version
// u8 (2 or 3), length u16, dataset header payload}, in the order the
// headers joined. A header is found in its block by its path.
//
// Extent table payload (one page): u64 slots, (PageSize-32)/8 at most. A
// dataset of rank r owns slots [slot, slot+r), its current shape. Slots
// are handed out in creation order, the next dataset going to the table
// the superblock names while it has room, else to a new table; they are
// never freed or shared.
//
// Free list payload: count u32, then count x {page u64, pages u64}.
//
// Every decoder checks magic, version and checksum (each failure with its
// own sentinel: ErrNotPWFile for the superblock magic, ErrMagic, ErrVersion,
// ErrChecksum, ErrPageSize), then every length and address against the
// payload and the end of allocation, and returns errors wrapping
// corrupt.Err; none panics.
//
// # Objects and pages
//
// Each object has pages of its own, but for small dataset headers and
// the one field that changes at almost every call: a dataset's current
// shape lives in a slot of a shared extent table, so that a pass of appends over 10,000 datasets dirties
// about 20 table pages rather than 10,000 header pages (docs/DECISIONS.md
// has the figures). The page buffer keys entries by first page; a reader's
// eviction of a changed header page drops that decoded header, and of a
// changed table page makes every dataset read its shape again from the
// (re-read) table on next use, and of a changed header block makes every
// dataset whose header it holds reload it. A writer's tables are
// authoritative: its headers' shapes are sub-slices of them. The cost of
// a page per object is space, which small datasets do not pay: headers that fit share header
// blocks (one-page objects), the open block taking new headers while it
// has room; a header that outgrows its block moves to the open block or a
// new one, or, too large for any block, to pages of its own, and a block
// left empty is freed. Changing one header rewrites its block. A dataset
// of one chunk (a time series of small appends) has no chunk index page:
// its header holds the chunk's address (version 3). So a one-chunk
// dataset costs its chunk and a share of a page of metadata. A header of
// its own pages that outgrows them (attributes) moves to a larger entry
// and the catalog is repointed; it never shrinks.
//
// # Allocation
//
// Allocation is deterministic: the same sequence of calls gives the same
// addresses on every rank (ordered slices, no map iteration, no randomness
// but the file id, which the caller may give). Metadata space comes first
// fit from the free list, else from the end of allocation (EOA). Raw space
// always comes from the EOA, never from freed space, so a chunk's unwritten
// bytes are zero in the file without anyone writing zeros: chunks over half
// a page get whole pages of their own; smaller ones are packed, 8-byte
// aligned, into 64 KiB raw blocks. Single chunk-index pages (roots, data
// and super pages) that the free list cannot give come from index blocks
// of 1, 2, 4, ... up to 64 pages at the EOA, so the roots of datasets
// indexed one after another are adjacent and, changed together, are
// written back together; Close frees the unused end of the last block.
//
// Freed space (a moved header, pages the chunk index releases) is reusable
// at once by default. With Options.DeferReuse it is tagged with the epoch
// set by SetEpoch and becomes reusable only when ReleaseBefore passes that
// epoch: a SWMR writer sets the epoch to the tick and releases ticks older
// than max_lag and older than the oldest tick a reader may be on (its lag
// window in time), so no lagging reader follows a pointer into reused space.
// Close persists the free list (reusable and pending alike) in an object
// allocated at the EOA; a writer that opens the file takes it over.
//
// # Datasets and raw data
//
// Chunks are numbered linearly over the chunk grid of the max shape (the
// first dimension unbounded): c0*prod(grid[1:]) + ... + c[r-1]. A dataset
// with an unlimited first dimension has an extensible-array chunk index,
// any other a fixed array sized for its max shape.
//
// Every chunk gets its space when the shape first covers it: at
// CreateDataset for the initial shape, at Extend/Resize for the new part.
// These calls are collective, so every rank makes the same allocations and
// chunk index changes; WriteSlab and ReadSlab never change metadata and are
// independent. Edge chunks are stored whole.
//
// Raw writes go to a per-File chunk cache that remembers which byte ranges
// this rank wrote and writes back only those (FlushRaw, Close, or when the
// cache passes Options.RawCacheBytes; chunks over half that size skip the
// cache and their written ranges go straight to the file), so ranks writing
// disjoint elements of one chunk never overwrite each other. Reads take the
// file's bytes and lay this rank's unwritten-back ranges over them; bytes
// never written read as zero. A sole writer (Options.SoleWriter: one
// process writes the file) also keeps images of the small chunks it
// allocated, and writes adjacent ones back as one run, the bytes between
// their written ranges included, and before a chunk's first bytes reach
// the file it reserves the chunk's whole space on disk if the data file
// can (vfs.Allocator: fallocate, the file's size unchanged), as HDF5
// allocates a chunk at its first write: writes into reserved space cost
// the file system less than ones that allocate as they go.
//
// # Use by the coordinator
//
// Writer (every rank, same calls, same arguments): Create(buffer, dataFile,
// Options{ID: the same id on every rank, PageSize, DeferReuse: true for
// SWMR}); optionally buffer.SetEvictHook(f.Evicted). At the start of tick
// T call SetEpoch(T) and, once T > max_lag, ReleaseBefore(min(T - max_lag,
// O + 1)), O the tick every reader has reached (the coordinator's oldest
// tick a reader may be on): a page freed in tick t is then reused no
// earlier than tick t + max_lag + 1, nor while a reader may be before t.
// Before a tick's raw data must be durable, FlushRaw. At the end, Close
// (it writes back raw data, persists the free list and writes the
// superblock), then flush the page buffer. CreateDataset, Resize/Extend
// and SetAttr are the collective calls; WriteSlab, ReadSlab and FlushRaw
// are independent.
//
// Reader: learn the page size (ReadSuperblock on the data file, or the
// metadata file's header), build the buffer, Open(buffer, dataFile,
// Options{ReadOnly: true}) and buffer.SetEvictHook(f.Evicted). After
// adopting a new snapshot (the buffer's Invalidate calls the hook), call
// Refresh.
//
// # Readers
//
// A read-only File (Options.ReadOnly) never writes. It keeps decoded
// catalog nodes, headers and chunk indexes; Evicted(pages), wired to the
// page buffer's eviction hook, drops those built from evicted pages (an
// evicted page 0 makes the next call re-read the superblock), and Refresh
// re-reads the superblock after adopting a new snapshot.
package pfile
