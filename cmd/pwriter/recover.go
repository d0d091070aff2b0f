package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"pwstore/coord"
	"pwstore/internal/tool/cli"
	"pwstore/internal/tool/workload"
)

// recoverResult is pwriter recover's --json line.
type recoverResult struct {
	RecoveredTick uint64 `json:"recovered_tick"`
	StepsComplete int64  `json:"steps_complete"`
	Pages         int    `json:"pages"`
	Needed        bool   `json:"needed"`
}

func recoverCmd(args []string) error {
	fs := flag.NewFlagSet("pwriter recover", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	md := fs.String("md", "", "metadata file (default FILE.md)")
	gone := fs.Duration("writer-gone", coord.DefaultWriterGone, "a writer whose heartbeat is younger than this is watched that long first: recovery refuses a live writer")
	force := fs.Bool("force", false, "skip the check that the writer is gone")
	pos, err := cli.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	rec, err := coord.Recover(path, coord.Config{MDPath: *md, WriterGone: *gone, ForceRecover: *force})
	if err != nil {
		return err
	}
	res := recoverResult{RecoveredTick: rec.Tick, Pages: rec.Pages, Needed: rec.Needed}
	res.StepsComplete, err = stepsComplete(path, *md)
	if err != nil {
		return fmt.Errorf("%s: recovered to tick %d, but: %w", path, rec.Tick, err)
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	if !rec.Needed {
		fmt.Printf("%s: nothing to recover (writer closed cleanly or file already recovered); %d steps complete\n", path, res.StepsComplete)
		return nil
	}
	fmt.Printf("%s: recovered tick %d (%d metadata pages applied); %d steps complete\n", path, rec.Tick, rec.Pages, res.StepsComplete)
	return nil
}

// stepsComplete reads the workload's count of complete steps (0 for a
// file that is not a pwriter workload).
func stepsComplete(path, md string) (int64, error) {
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true, MDPath: md})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	v, err := r.Dataset(workload.TimePath)
	if err != nil {
		return 0, nil
	}
	val, ok, err := v.Attr(workload.StepsAttr)
	if err != nil || !ok {
		return 0, err
	}
	n, _ := val.Int()
	return n, nil
}
