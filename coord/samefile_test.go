package coord_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/vfs"
)

// TestRanksOfTwoFiles: ranks of one communicator started on different
// files (two jobs sharing a job id) or with different parameters all fail
// before rank 0 creates anything, naming the rank that differs.
func TestRanksOfTwoFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, want string
		cfgOf      func(r int) (string, coord.Config)
	}{
		{"path", `create "` + filepath.Join(dir, "b.pw") + `"`, func(r int) (string, coord.Config) {
			return filepath.Join(dir, []string{"a.pw", "b.pw"}[r]), coord.Config{ManualTicks: true}
		}},
		{"max lag", "max lag 6, rank 0 with max lag 5", func(r int) (string, coord.Config) {
			return filepath.Join(dir, "c.pw"), coord.Config{ManualTicks: true, MaxLag: uint64(5 + r)}
		}},
	} {
		name, want, cfgOf := tc.name, tc.want, tc.cfgOf
		t.Run(name, func(t *testing.T) {
			comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 5 * time.Second})
			defer func() {
				for _, c := range comms {
					c.Close()
				}
			}()
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for r := range 2 {
				wg.Go(func() {
					path, cfg := cfgOf(r)
					cfg.Comm = comms[r]
					w, err := coord.Create(path, cfg)
					if err == nil {
						w.Close()
					}
					errs[r] = err
				})
			}
			wg.Wait()
			for r, err := range errs {
				if r == 0 && !errors.Is(err, coord.ErrConfig) || !strings.Contains(err.Error(), "rank 1 was started with "+want) ||
					!strings.Contains(err.Error(), "two jobs running with one job id") {
					t.Errorf("rank %d: %v", r, err)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("files created: %v", ents)
			}
		})
	}
}

// goneFS plays a file removed before a rank opens it: OpenRW first runs
// then, and fails as the file were not there.
type goneFS struct {
	vfs.FS
	path string
	then func()
}

func (g goneFS) OpenRW(name string) (vfs.File, error) {
	if name == g.path {
		g.then()
		return nil, fs.ErrNotExist
	}
	return g.FS.OpenRW(name)
}

// TestStartFailureSaysWhy: rank 0 gives up after its start broadcast
// (here: it aborts with the reason a duplicate rank gives) and removes the
// file it created; rank 1, which got the broadcast, finds the file gone.
// It must report rank 0's reason, not only the missing file.
func TestStartFailureSaysWhy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.pw")
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 5 * time.Second})
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	const reason = "two processes claim rank 1 (test)"
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			cfg := coord.Config{ManualTicks: true, Comm: comms[r]}
			if r == 1 {
				cfg.FS = goneFS{FS: vfs.OS, path: path, then: func() { comms[0].Abort(reason) }}
			}
			w, err := coord.Create(path, cfg)
			if err == nil {
				w.Close()
			}
			errs[r] = err
		})
	}
	wg.Wait()
	if errs[1] == nil || !strings.Contains(errs[1].Error(), reason) || !strings.Contains(errs[1].Error(), "file does not exist") {
		t.Errorf("rank 1: %v; want rank 0's reason %q beside its own failure", errs[1], reason)
	}
	if errs[0] == nil {
		t.Error("rank 0 started beside a rank that failed")
	}
}
