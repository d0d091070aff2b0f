package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// ErrCrashed is returned by every write, truncate and sync of a FaultFS
// after its simulated crash or power loss.
var ErrCrashed = errors.New("vfs: simulated crash")

// FaultFS wraps a file system and injects the failures that crash and
// torn-write tests need:
//   - SplitWrites: every write lands as several writes split at random
//     byte boundaries, so a concurrent reader can see any prefix of it;
//   - CrashAfter: a crash after the Nth write: that write lands only a
//     prefix, every later write, truncate or sync is dropped;
//   - TrackUnsynced + PowerLoss: writes since the last Sync of their file
//     are undone, then a random subset of them is applied again in random
//     order, the last one possibly torn (a power loss with reordering);
//   - FailAt: the Nth mutating operation (write, truncate, sync or
//     directory sync) fails with a given error (EIO, ENOSPC, ...) and
//     changes nothing.
//
// With TrackUnsynced, directory entries are tracked too: a file created,
// or removed, since the last SyncDir of its directory is, at PowerLoss,
// gone again, or back (with its synced contents); this needs the base to
// be the operating system's file system (OS), as removed files are kept
// aside by renaming them. SkipDirSyncs makes SyncDir a no-op, to show
// what code that never syncs directories loses.
//
// Reads and metadata operations pass straight through. It is safe for
// concurrent use.
type FaultFS struct {
	base FS

	mu      sync.Mutex // guards every field below
	rng     *rand.Rand
	split   bool
	track   bool
	writes  int // writes issued, all files
	ops     int // mutating operations issued, all files
	crashAt int // writes after this many crash (0: never)
	torn    int // bytes of the crashing write that land; < 0: random
	failAt  int // mutating operation that fails (0: none)
	failErr error
	crashed bool
	logs    map[string][]undo // unsynced changes per file name, oldest first
	dirs    map[string]entry  // unsynced directory entries, by file name
	skipDir bool              // SyncDir syncs nothing
	hidden  int               // removed files kept so far (names their copies)
}

// entry is a directory entry changed since its directory was last synced.
type entry struct {
	created bool   // the name did not exist at the last directory sync
	kept    string // if the name was removed: where its file is kept meanwhile
}

// undo records one unsynced change and how to take it back.
type undo struct {
	off     int64
	data    []byte // bytes written (nil for a truncate)
	old     []byte // bytes that were there (the part inside the old size)
	oldSize int64
	size    int64 // new size of a truncate
}

// NewFaultFS wraps base; seed makes the random choices repeatable.
func NewFaultFS(base FS, seed uint64) *FaultFS {
	return &FaultFS{base: base, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), logs: map[string][]undo{}, dirs: map[string]entry{}}
}

// SplitWrites turns splitting of every write at random boundaries on or off.
func (f *FaultFS) SplitWrites(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.split = on
}

// CrashAfter makes writes 1..n land and write n+1 land only its first
// torn bytes (a random prefix when torn < 0); it and every later mutating
// operation fail with ErrCrashed.
func (f *FaultFS) CrashAfter(n, torn int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAt, f.torn = n+1, torn
}

// FailAt makes the nth mutating operation (counted from 1 across all
// files, from now) fail with err without changing anything.
func (f *FaultFS) FailAt(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAt, f.failErr = f.ops+n, err
}

// TrackUnsynced turns on recording of unsynced writes, needed by PowerLoss.
func (f *FaultFS) TrackUnsynced(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.track = on
}

// SkipDirSyncs makes SyncDir succeed without syncing anything (on) or
// sync again (off).
func (f *FaultFS) SkipDirSyncs(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipDir = on
}

// Writes is the number of writes issued so far.
func (f *FaultFS) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Crashed says whether a crash or power loss has happened.
func (f *FaultFS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// PowerLoss simulates losing power: in every file, the changes since its
// last Sync are undone, then each unsynced write survives with
// probability keep, the survivors applied in random order and the last
// one torn at a random byte. Unsynced truncates are lost. Afterwards the
// file system is crashed: writes fail with ErrCrashed.
func (f *FaultFS) PowerLoss(keep float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = true
	for name, log := range f.logs {
		file, err := f.base.OpenRW(name)
		if err != nil {
			return fmt.Errorf("vfs: power loss on %s: %w", name, err)
		}
		err = f.lose(file, log, keep)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("vfs: power loss on %s: %w", name, err)
		}
		delete(f.logs, name)
	}
	return f.loseEntries()
}

// loseEntries undoes the directory changes not synced: created files go,
// removed ones come back.
func (f *FaultFS) loseEntries() error {
	for name, e := range f.dirs {
		if e.created || e.kept != "" {
			if err := f.base.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("vfs: power loss: undo creating %s: %w", name, err)
			}
		}
		if e.kept != "" {
			if err := os.Rename(e.kept, name); err != nil {
				return fmt.Errorf("vfs: power loss: undo removing %s: %w", name, err)
			}
		}
		delete(f.dirs, name)
	}
	return nil
}

func (f *FaultFS) lose(file File, log []undo, keep float64) error {
	for i := len(log) - 1; i >= 0; i-- {
		u := log[i]
		if len(u.old) > 0 {
			if _, err := file.WriteAt(u.old, u.off); err != nil {
				return err
			}
		}
		if err := file.Truncate(u.oldSize); err != nil {
			return err
		}
	}
	var survivors []undo
	for _, u := range log {
		if u.data != nil && f.rng.Float64() < keep {
			survivors = append(survivors, u)
		}
	}
	f.rng.Shuffle(len(survivors), func(i, j int) { survivors[i], survivors[j] = survivors[j], survivors[i] })
	for i, u := range survivors {
		data := u.data
		if i == len(survivors)-1 {
			data = data[:f.rng.IntN(len(data)+1)]
		}
		if _, err := file.WriteAt(data, u.off); err != nil {
			return err
		}
	}
	return nil
}

// begin counts a mutating operation and says whether it must fail.
func (f *FaultFS) begin() error {
	f.ops++
	if f.crashed {
		return ErrCrashed
	}
	if f.ops == f.failAt {
		return f.failErr
	}
	return nil
}

func (f *FaultFS) wrap(file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

// Create creates a file through the base file system.
func (f *FaultFS) Create(name string) (File, error) {
	file, err := f.wrap(f.base.Create(name))
	if err == nil {
		f.mu.Lock()
		if _, ok := f.dirs[name]; !ok && f.track {
			f.dirs[name] = entry{created: true}
		}
		f.mu.Unlock()
	}
	return file, err
}

// OpenRW opens a file read-write through the base file system.
func (f *FaultFS) OpenRW(name string) (File, error) { return f.wrap(f.base.OpenRW(name)) }

// Open opens a file read-only through the base file system.
func (f *FaultFS) Open(name string) (File, error) { return f.wrap(f.base.Open(name)) }

// Remove removes a file. While unsynced writes are tracked and the
// directory entry was synced, the file is kept aside (with its unsynced
// writes) until its directory is synced, for PowerLoss to bring back;
// otherwise its unsynced writes are forgotten.
func (f *FaultFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrashed
	}
	e, changed := f.dirs[name]
	if !f.track || changed {
		if changed && e.kept == "" {
			delete(f.dirs, name) // created and removed since the last sync
		}
		delete(f.logs, name)
		return f.base.Remove(name)
	}
	if _, err := f.base.Stat(name); err != nil {
		return err
	}
	f.hidden++
	kept := fmt.Sprintf("%s.faultfs-removed-%d", name, f.hidden)
	if err := os.Rename(name, kept); err != nil {
		return err
	}
	if log, ok := f.logs[name]; ok {
		f.logs[kept] = log
		delete(f.logs, name)
	}
	e.kept = kept
	f.dirs[name] = e
	return nil
}

// Stat passes through.
func (f *FaultFS) Stat(name string) (fs.FileInfo, error) { return f.base.Stat(name) }

// SyncDir syncs dir through the base file system (unless SkipDirSyncs),
// making the entries created in it and removed from it durable.
func (f *FaultFS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if f.skipDir {
		return nil
	}
	if err := f.base.SyncDir(dir); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	for name, e := range f.dirs {
		if filepath.Dir(name) != dir {
			continue
		}
		if e.kept != "" {
			if err := f.base.Remove(e.kept); err != nil {
				return err
			}
			delete(f.logs, e.kept)
		}
		delete(f.dirs, name)
	}
	return nil
}

type faultFile struct {
	File
	fs *FaultFS
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f := ff.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return 0, err
	}
	f.writes++
	if f.crashAt > 0 && f.writes >= f.crashAt {
		n := 0
		if f.writes == f.crashAt {
			n = min(f.torn, len(p))
			if n < 0 {
				n = f.rng.IntN(len(p) + 1)
			}
			if err := ff.record(p[:n], off); err != nil {
				return 0, err
			}
			if _, err := ff.File.WriteAt(p[:n], off); err != nil {
				return 0, err
			}
		}
		f.crashed = true
		return n, ErrCrashed
	}
	if err := ff.record(p, off); err != nil {
		return 0, err
	}
	if !f.split || len(p) < 2 {
		return ff.File.WriteAt(p, off)
	}
	// Land the write in random pieces, in order, yielding between them so
	// concurrent readers catch it half done.
	for done := 0; done < len(p); {
		k := 1 + f.rng.IntN(len(p)-done)
		if _, err := ff.File.WriteAt(p[done:done+k], off+int64(done)); err != nil {
			return done, err
		}
		done += k
		runtime.Gosched()
	}
	return len(p), nil
}

// record remembers an unsynced write and the bytes it replaces.
func (ff *faultFile) record(p []byte, off int64) error {
	f := ff.fs
	if !f.track || len(p) == 0 {
		return nil
	}
	size, err := ff.File.Size()
	if err != nil {
		return err
	}
	u := undo{off: off, data: append([]byte(nil), p...), oldSize: size}
	if off < size {
		u.old = make([]byte, min(int64(len(p)), size-off))
		if _, err := ff.File.ReadAt(u.old, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	f.logs[ff.Name()] = append(f.logs[ff.Name()], u)
	return nil
}

func (ff *faultFile) Truncate(size int64) error {
	f := ff.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if f.track {
		old, err := ff.File.Size()
		if err != nil {
			return err
		}
		u := undo{off: size, oldSize: old, size: size}
		if size < old {
			u.old = make([]byte, old-size)
			if _, err := ff.File.ReadAt(u.old, size); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		f.logs[ff.Name()] = append(f.logs[ff.Name()], u)
	}
	return ff.File.Truncate(size)
}

func (ff *faultFile) Sync() error {
	f := ff.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if err := ff.File.Sync(); err != nil {
		return err
	}
	delete(f.logs, ff.Name())
	return nil
}
