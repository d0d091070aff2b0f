package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// Allocate reserves [off, off+n) with fallocate(FALLOC_FL_KEEP_SIZE): the
// file's size and bytes stay as they are.
func (f osFile) Allocate(off, n int64) error {
	rc, err := f.File.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: ferr}
	}
	return nil
}
