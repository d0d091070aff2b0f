// Package chunkindex maps chunk numbers to chunk records (address and size of
// the chunk's bytes in the data file) for one dataset. It provides the two
// chunk indexes of the design: an extensible array (Extensible) for datasets
// whose first dimension is unlimited, and a fixed array (Fixed) for datasets
// whose number of chunks is known at creation.
//
// # Scheme
//
// Both kinds are one shape: a root page, then "super pages" holding pointers
// to data pages, then data pages holding records. Every block is exactly one
// page, so a lookup costs at most three page reads (root, super page, data
// page) whatever the size, and a Set rewrites one data page, plus its super
// page when the data page is new, plus the root when a super page is new.
//
//	index i
//	  i < D                 -> direct slot i of the root         (1 read)
//	  else i' = i - D, g = i' / (E*R), k = (i' / R) % E, r = i' % R
//	  Extensible: extent s = floor(log2(g+1)), page j = g+1 - 2^s
//	  Fixed:      extent s = 0,                page j = g
//	  root.extent[s].start + j -> super page; pointer k -> data page;
//	  record r                                                   (3 reads)
//
// D, E and R follow from the page size P: E = (P-32)/8 pointers per super
// page, R = (P-40)/16 records per data page, D = (P-56-12*S)/16 direct
// records in the root, S the number of extents (32 for Extensible, 1 for
// Fixed). With P = 4096: D = 228 (Fixed 251), E = 508, R = 253, so one super
// page covers 128,524 chunks; with P = 512: D = 4 (Fixed 27), E = 60, R = 29.
//
// An extent is a run of super pages allocated with one Alloc when a Set first
// reaches it. Extensible extent s holds 2^s super pages (the sizes double, as
// in the HDF5 extensible array, so that under appends at most half of the
// allocated super pages are unwritten); the 32 extents cover (2^32-1)*E*R chunks, 7.4e12 at P = 512 and far
// beyond 10^9 at every page size. The Fixed array has one extent sized for
// its n chunks. Data pages are allocated one at a time, only when a record in
// them is set; a zero pointer means "no data page".
//
// Super pages inside an extent are found by arithmetic, not by pointer, and
// a page never written can be told neither from a stale page of freed space
// nor read at all past the end of the file; so the root records for each
// extent how many of its pages have been written (hwm), and pages at or past
// hwm are never read. A Set that needs page j >= hwm writes pages hwm..j, all
// but j empty. Appends (and any Set at most one super page past the last)
// write one page this way; a first Set far past the end writes the gap once:
// at most i/(E*R) pages for a Set at chunk i (7,800 pages of 4 KiB for chunk
// 10^9 with P = 4096; i/1740 pages with P = 512). That is the price of at
// most three reads with one-page blocks at every page size: the alternative,
// a bitmap of written pages, does not fit in a 512 B root.
//
// Len of an Extensible is not stored (storing it would rewrite the root on
// every append): Open derives it from the last initialised super page of the
// highest extent, its highest data page pointer, and that data page's count.
// An Extensible caches Len in memory; a reader that adopts a newer snapshot
// reopens the index (at most three reads). Get and Set always read through
// the Store and keep no page images.
//
// # Byte layout (little endian; every block is one page of P bytes)
//
// Root (magic "PXEA" for Extensible, "PXFA" for Fixed):
//
//	0    magic [4]byte
//	4    version u8 (1)
//	5    reserved [3]byte, zero
//	8    page size u32
//	12   direct count u32   one past the highest direct slot set
//	16   self u64           this root's page
//	24   n u64              Fixed: number of chunks; Extensible: 0
//	32   extents S u32      32 or 1
//	36   direct slots D u32
//	40   reserved u64, zero
//	48   extent[S]          {start page u64 (0 = none), hwm u32}
//	48+12S  direct[D]       {addr u64, size u64}
//	P-8  xxhash64 of bytes [0, P-8)
//
// Super page (magic "PXSP"):
//
//	0    magic [4]byte
//	4    version u8 (1)
//	5    reserved [3]byte, zero
//	8    extent u32         s
//	12   page u32           j, position inside the extent
//	16   owner u64          root page of the index it belongs to
//	24   pointer[E] u64     data page (0 = none)
//	P-8  xxhash64 of bytes [0, P-8)
//
// Data page (magic "PXDP"):
//
//	0    magic [4]byte
//	4    version u8 (1)
//	5    reserved [3]byte, zero
//	8    count u32          one past the highest slot set
//	12   reserved u32, zero
//	16   owner u64          root page of the index it belongs to
//	24   first u64          chunk number of slot 0
//	32   record[R]          {addr u64 (0 = none), size u64}
//	P-8  xxhash64 of bytes [0, P-8)
//
// Every decoder checks length, magic, version and checksum (in that order,
// each failure with its own sentinel: ErrBounds, ErrMagic, ErrVersion,
// ErrChecksum), then every count, position and owner against what the reader
// expects (ErrBounds, ErrMismatch), before it trusts a byte; all such errors
// wrap corrupt.Err. A pointer is checked where it is followed: the data page
// behind it must name the index and its first chunk. Whether a page number is
// inside the file is the Store's to check.
//
// # Writes and determinism
//
// Within a Set, children are written before their parent (gap super pages,
// data page, super page, root), the order of the flush dependencies of the
// original SWMR design. So a Set that fails on a Store error leaves the index
// as it was, or with that record set; at worst pages it allocated stay
// unreferenced. The same sequence of calls makes the same Alloc
// calls and writes the same bytes. Write's fresh flag is true exactly on the
// first write of a page after its Alloc. The index never frees its blocks;
// Check lists every extent it occupies, which is what a caller dropping the
// index releases.
//
// An index is not safe for concurrent use.
package chunkindex
