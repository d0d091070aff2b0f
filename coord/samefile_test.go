package coord_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/coord"
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
