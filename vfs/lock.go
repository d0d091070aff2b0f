package vfs

import "errors"

// ErrLocked: another process holds a lock on the file that conflicts with
// the one asked for.
var ErrLocked = errors.New("locked by another process")

// fder is an operating-system file (vfs.OS's files).
type fder interface{ Fd() uintptr }

// Lock takes an advisory lock on the whole of f without waiting: shared
// (held by every writer process of a file for its life) or exclusive
// (taken by recovery). The lock belongs to this open of the file and goes
// with its Close, or with the process. held is false, with no error, when
// f is not an operating-system file (FaultFS's files, for one) or its
// file system keeps no such locks; a conflicting lock is ErrLocked.
//
// On a cluster file system the lock is only as wide as the file system
// makes it: Lustre mounted with -o flock and NFS share it between nodes,
// -o localflock keeps it on one node, and without either it is refused
// (then held is false).
func Lock(f File, exclusive bool) (held bool, err error) {
	o, ok := f.(fder)
	if !ok {
		return false, nil
	}
	return flock(o.Fd(), exclusive)
}
