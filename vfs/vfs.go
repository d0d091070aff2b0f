// Package vfs is the small file-system interface every layer of pwstore does
// its file I/O through. The real implementation is the operating system's;
// tests substitute file systems that tear, reorder, drop or fail writes, so
// crash and torn-write cases are cheap to produce.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file. ReadAt and WriteAt follow io.ReaderAt and
// io.WriterAt; a short ReadAt at end of file returns io.EOF.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size returns the file's current length in bytes.
	Size() (int64, error)
	// Truncate changes the file's length.
	Truncate(size int64) error
	// Sync makes everything written so far durable.
	Sync() error
	Close() error
	// Name returns the path the file was opened with.
	Name() string
}

// Allocator is a File that can reserve disk space for bytes before they
// are written, without changing the file's size (fallocate with
// FALLOC_FL_KEEP_SIZE on Linux). A buffered write into reserved space
// skips the file system's per-block work of delayed allocation: on ext4,
// 260 KB writes into space reserved 4 MB at a time ran mostly at 4.2-5.5
// GB/s, where the same writes allocating as they went ran at 3.0-3.7
// (docs/DECISIONS.md). File types that wrap a File and check its writes
// must check this too.
type Allocator interface {
	Allocate(off, n int64) error
}

// FS opens, creates and removes files.
type FS interface {
	// Create creates a new file for reading and writing. It fails with an
	// error satisfying errors.Is(err, fs.ErrExist) when the file exists.
	Create(name string) (File, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// Remove deletes a file.
	Remove(name string) error
	// Stat reports on a file without opening it.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory dir durable: the entries created in it
	// and removed from it so far survive power loss. Syncing a file does
	// not do that (POSIX), so durable code syncs the directory after it
	// creates or removes a file.
	SyncDir(dir string) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenRW(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// SyncDirOf syncs the directory holding the file name.
func SyncDirOf(fsys FS, name string) error { return fsys.SyncDir(filepath.Dir(name)) }

// MaxWrite bounds the bytes of one write system call of OS's files. The
// page cache takes a write's bytes in folios of up to its length, and on
// virtual machines large folios can be memory the host must first back
// again (freed memory is handed back to it in large blocks): there a
// 4 MiB pwrite into a new file copied at 0.4-1.2 GB/s and the same bytes
// in 256 KiB writes mostly at 4-5 GB/s; 512 KiB writes were as slow as
// 4 MiB ones (docs/DECISIONS.md). Elsewhere the extra calls cost a few
// microseconds a megabyte.
const MaxWrite = 256 << 10

// WriteAt writes p in pieces of at most MaxWrite bytes.
func (f osFile) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := f.File.WriteAt(p[n:n+min(len(p)-n, MaxWrite)], off+int64(n))
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (f osFile) Size() (int64, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ReadFull reads len(p) bytes at off, treating a short read as
// io.ErrUnexpectedEOF so callers can report truncation distinctly.
func ReadFull(f io.ReaderAt, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
