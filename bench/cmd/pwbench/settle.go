package main

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rowStart is the page cache's state when a writer row started, after
// settle: /proc/meminfo's Dirty and Writeback, in MB (-1 if unreadable).
type rowStart struct {
	DirtyMB     float64 `json:"dirty_mb_start"`
	WritebackMB float64 `json:"writeback_mb_start"`
}

// settle runs before every writer row, ours and HDF5's alike, so that each
// starts from the same state whatever ran before it: the previous row's
// files are already removed, the pause lets the kernel finish with the
// memory they freed, and sync(2) then writes back what earlier rows (and
// anything else) left dirty. On a virtual machine that hands freed guest
// memory back to its host (virtio-balloon free page reporting, about two
// seconds after the free, as on the machine of bench/RESULTS.md), a writer
// that starts within a second of another row's removal reuses that row's
// pages, while one that starts later faults every page of its page cache
// back in from the host: 0.6 s of system time per 800 MB there, more than
// the whole write otherwise takes. Without the pause, a row's figure
// depended on how soon after a large row it ran.
func (b *bench) settle(ctx context.Context) rowStart {
	if d := b.cfg.settle; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	syscall.Sync() // last: what others wrote during the pause is written back too
	return readRowStart()
}

func readRowStart() rowStart {
	r := rowStart{DirtyMB: -1, WritebackMB: -1}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return r
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "Dirty" && k != "Writeback") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			continue
		}
		if k == "Dirty" {
			r.DirtyMB = kb / 1024
		} else {
			r.WritebackMB = kb / 1024
		}
	}
	return r
}
