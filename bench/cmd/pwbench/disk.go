package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// diskResult is a sequential-write baseline: the physical limit.
type diskResult struct {
	Bytes      int64   `json:"bytes"`
	Block      int     `json:"block_bytes"`
	FsyncMBps  float64 `json:"mb_per_s_fsync"`  // write + fsync, the disk's sustained rate
	CachedMBps float64 `json:"mb_per_s_cached"` // write to the page cache, before the fsync
	Load       float64 `json:"load"`
	Error      string  `json:"error,omitempty"`
	rowStart
}

// diskBaseline writes size bytes sequentially in blocks of block bytes
// into a file in dir, fsyncs it, and removes it.
func diskBaseline(dir string, size int64, block int) diskResult {
	r := diskResult{Bytes: size, Block: block, Load: loadAvg()}
	path := filepath.Join(dir, "disk-baseline.bin")
	err := func() error {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		defer f.Close()
		buf := make([]byte, block)
		for i := range buf {
			buf[i] = byte(i*7 + i>>8) // not all zero, in case the storage compresses
		}
		start := time.Now()
		for off := int64(0); off < size; off += int64(block) {
			if _, err := f.Write(buf[:min(int64(block), size-off)]); err != nil {
				return err
			}
		}
		cached := time.Since(start)
		if err := f.Sync(); err != nil {
			return err
		}
		total := time.Since(start)
		r.CachedMBps = float64(size) / 1e6 / cached.Seconds()
		r.FsyncMBps = float64(size) / 1e6 / total.Seconds()
		return f.Close()
	}()
	if err != nil {
		r.Error = fmt.Sprintf("disk baseline: %v", err)
	}
	return r
}
