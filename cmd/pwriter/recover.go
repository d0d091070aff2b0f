package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"pwstore/coord"
	"pwstore/internal/tool/cli"
	"pwstore/internal/tool/job"
	"pwstore/pfile"
)

// recoverResult is pwriter recover's --json line.
type recoverResult struct {
	// RecoveredTick is the tick the file now holds: the recovered tick, or
	// the closing tick of a file whose writer closed it and kept its
	// metadata file. 0 when the metadata file was already gone (the data
	// file alone does not record its closing tick).
	RecoveredTick uint64 `json:"recovered_tick"`
	StepsComplete int64  `json:"steps_complete"`
	Pages         int    `json:"pages"`
	Needed        bool   `json:"needed"`
	// Closed: there was nothing to recover, the writer had closed the file.
	Closed bool `json:"closed,omitempty"`
}

func recoverCmd(args []string) error {
	fs := cli.NewFlags("pwriter recover", "[flags] FILE",
		"Bring FILE, whose writer died, to its last completed tick from its metadata file (FILE.md),\nthen remove the metadata file. A file whose writer closed it needs nothing.")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	md := fs.String("md", "", "metadata file (default FILE.md)")
	gone := fs.Duration("writer-gone", coord.DefaultWriterGone, "a writer whose heartbeat is younger than this is watched that long first: recovery refuses a live writer")
	force := fs.Bool("force", false, "skip the wait on the writer's heartbeat (a process that still holds the file's lock is refused all the same)")
	noLock := fs.Bool("no-file-lock", false, "do not look for a writer process holding the data file's lock (for file systems whose locks misbehave; also "+cli.EnvFileLocking+"=FALSE)")
	pos, err := cli.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := cli.Positive(fs, "writer-gone"); err != nil {
		return err
	}
	if *noLock, err = cli.NoFileLockFlag(*noLock, os.Getenv); err != nil {
		return err
	}
	path, mdPath := pos[0], cli.MDPath(pos[0], *md)
	if err := cli.Input(path, false); err != nil {
		return err
	}
	if err := cli.Input(mdPath, true); err != nil {
		return err
	}
	_, err = os.Stat(mdPath)
	hadMD := !errors.Is(err, os.ErrNotExist)
	rec, err := coord.Recover(path, coord.Config{MDPath: *md, WriterGone: *gone, ForceRecover: *force, NoFileLock: *noLock})
	if errors.Is(err, pfile.ErrNotPWFile) && hadMD {
		return fmt.Errorf("%w; %s is left as it is", cli.FileErr(path, err), mdPath)
	}
	if err != nil {
		return cli.FileErr(path, err)
	}
	res := recoverResult{RecoveredTick: rec.Tick, Pages: rec.Pages, Needed: rec.Needed, Closed: !rec.Needed}
	res.StepsComplete, err = stepsComplete(path, *md)
	switch {
	case err != nil && rec.Needed:
		return fmt.Errorf("%s: recovered to tick %d, but the file does not read back: %w", path, rec.Tick, err)
	case err != nil:
		return cli.FileErr(path, err)
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	switch {
	case rec.Needed:
		fmt.Printf("%s: recovered tick %d (%d metadata pages applied); %d steps complete\n", path, rec.Tick, rec.Pages, res.StepsComplete)
	case hadMD:
		fmt.Printf("%s: nothing to recover: its writer closed it at tick %d; %d steps complete\n", path, rec.Tick, res.StepsComplete)
	default:
		fmt.Printf("%s: nothing to recover: no metadata file, its writer closed it (or it was recovered); %d steps complete\n", path, res.StepsComplete)
	}
	return nil
}

// stepsComplete reads the workload's count of complete steps (0 for a
// pwstore file that is not a pwriter workload). Opening the file also
// checks that it is a pwstore file.
func stepsComplete(path, md string) (int64, error) {
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true, MDPath: md})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := job.CompleteSteps(r)
	return int64(n), err
}
