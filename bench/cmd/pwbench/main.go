// Command pwbench runs pwstore's benchmark suite on one machine in one run
// (DESIGN section 13): the VFD SWMR RFC's round-robin and planes workloads
// and the checkpoint workload with 1, 2 and 4 writer ranks, each with reader
// ranks following; the collective reader tick with 4 and 16 ranks; end of
// tick on a million-entry index; a sequential-write baseline of the disk;
// and, when h5py is installed, the same rr and planes workloads through
// HDF5 1.10 with and without SWMR. It writes report.md and results.json
// into its output directory and prints the report.
//
// Run it from anywhere inside the module (bench/run does): it builds
// pwriter and preader itself and runs bench/h5peer/setup.sh itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pwstore/bench/colltick"
	"pwstore/internal/tool/job"
	"pwstore/vfs"
)

// config is the command line.
type config struct {
	out      string
	tick     time.Duration
	maxLag   int
	pageSize int
	readers  int
	timeout  time.Duration
	noPeer   bool
	python   string
	quick    bool
	diskMB   int
	only     string
	rr       string // "DxP,DxP": datasets x passes of each round-robin run
	rfcFull  bool
	planes   int
	planesD  int
	side     int
	planesRd string
	rrRd     string
	rrRepeat int
	ckptRd   string
	ckptSide int
	ckptStep int
	ckptF    int
	ckptNP   string
	collNP   string
	collD    string
	collIter int
	latRR    string // the round-robin size of the latency part
	latNP    int    // writer ranks of its checkpoint runs
	latSide  int    // cube side of its checkpoint runs
	latRd    int    // its verifying reader ranks

	eotBenchtime string
	settle       time.Duration // before every writer row: this pause, then sync
}

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "pwbench-out", "output directory (created; report.md, results.json, logs/; scratch files go to work/ and tmp/ inside it and are removed)")
	fs.DurationVar(&c.tick, "tick", 100*time.Millisecond, "writer tick length")
	fs.IntVar(&c.maxLag, "max-lag", 10, "max_lag in ticks")
	fs.IntVar(&c.pageSize, "page-size", 4096, "page size of our data files (pwriter --page-size)")
	fs.IntVar(&c.readers, "readers", 2, "reader ranks following each workload (0: none)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound on each step of the suite (with --rfc-full: 24h unless given)")
	fs.BoolVar(&c.noPeer, "no-peer", false, "skip HDF5 (h5peer) even if it is available")
	fs.StringVar(&c.python, "python", "/usr/bin/python3", "the Python that has h5py (Debian's)")
	fs.BoolVar(&c.quick, "quick", false, "tiny sizes (overriding the size flags): a smoke test of the suite in well under a minute")
	fs.IntVar(&c.diskMB, "disk-mb", 512, "MB the disk baseline writes")
	fs.StringVar(&c.only, "only", "", "comma-separated parts to run: disk,rr,planes,ckpt,coll,eot,lat (default all)")
	fs.StringVar(&c.rr, "rr", "1000x100,10000x20", "round robin runs, DATASETSxPASSES, comma-separated (one small append to every dataset per pass)")
	fs.BoolVar(&c.rfcFull, "rfc-full", false, "round robin at the RFC's full size: 10,000 datasets x 10,000 passes (hours)")
	fs.IntVar(&c.planes, "planes", 20, "planes: passes (one plane per dataset each)")
	fs.IntVar(&c.planesD, "planes-datasets", 10, "planes: datasets")
	fs.IntVar(&c.side, "side", 1000, "planes: plane side")
	fs.IntVar(&c.rrRepeat, "rr-repeat", 3, "run each round-robin size, ours and HDF5's alternating, this many times, and judge the median run of each (a 100-step row is tens of milliseconds)")
	fs.StringVar(&c.rrRd, "rr-reader", "auto", "rr readers: verify (preader watch ranks: every element of every step), probe (pwbench's reader ranks: spot checks, like HDF5's reader) or auto (verify up to 1,000 datasets)")
	fs.StringVar(&c.planesRd, "planes-reader", "probe", "planes readers: probe or verify")
	fs.StringVar(&c.ckptRd, "ckpt-reader", "probe", "checkpoint readers: probe or verify")
	fs.IntVar(&c.ckptSide, "ckpt-side", 128, "checkpoint: cube side of each field")
	fs.IntVar(&c.ckptStep, "ckpt-steps", 20, "checkpoint: steps")
	fs.IntVar(&c.ckptF, "ckpt-fields", 3, "checkpoint: fields")
	fs.StringVar(&c.ckptNP, "ckpt-ranks", "1,2,4", "checkpoint: writer rank counts")
	fs.StringVar(&c.collNP, "coll-ranks", "4,16", "collective reader tick: reader rank counts")
	fs.StringVar(&c.collD, "coll-deltas", "10,1000", "collective reader tick: index entries changed per tick")
	fs.IntVar(&c.collIter, "coll-iters", 50, "collective reader tick: measured ticks")
	fs.StringVar(&c.latRR, "lat-rr", "1000x100", "latency part: round-robin size, DATASETSxPASSES")
	fs.IntVar(&c.latNP, "lat-ckpt-ranks", 2, "latency part: writer ranks of the checkpoint runs")
	fs.IntVar(&c.latRd, "lat-readers", 1, "latency part: verifying reader ranks following each run")
	fs.IntVar(&c.latSide, "lat-ckpt-side", 64, "latency part: cube side of the checkpoint runs (their readers verify every element)")
	fs.StringVar(&c.eotBenchtime, "eot-benchtime", "30x", "end of tick: go test -benchtime for mdfile's BenchmarkUpdate")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "before every writer row (ours, HDF5's, the disk baseline): this pause, then sync, so that no row inherits another's page-cache state (with --quick: 0 unless given)")
}

func (c *config) check() error {
	if c.quick {
		c.rr, c.planes, c.side, c.ckptSide, c.ckptStep, c.rrRepeat = "50x20", 4, 200, 16, 10, 1
		c.collIter, c.diskMB, c.eotBenchtime = 10, 64, "2x"
		c.latRR, c.latSide = "50x20", 16
	}
	if c.rfcFull {
		c.rr = "10000x10000"
	}
	if c.pageSize < 512 || c.pageSize&(c.pageSize-1) != 0 {
		return fmt.Errorf("--page-size %d: want a power of two, at least 512", c.pageSize)
	}
	if c.tick <= 0 || c.maxLag < 3 || c.readers < 0 || c.timeout <= 0 || c.diskMB < 1 || c.settle < 0 {
		return errors.New("need --tick > 0, --max-lag >= 3, --readers >= 0, --timeout > 0, --disk-mb >= 1, --settle >= 0")
	}
	if _, err := rrSizes(c.rr); err != nil {
		return err
	}
	if z, err := rrSizes(c.latRR); err != nil || len(z) != 1 {
		return fmt.Errorf("--lat-rr %q: want one DATASETSxPASSES", c.latRR)
	}
	if c.latNP < 1 || c.latSide < 1 || c.latRd < 1 {
		return errors.New("--lat-ckpt-ranks, --lat-ckpt-side and --lat-readers must be positive")
	}
	if c.planes < 1 || c.planesD < 1 || c.side < 1 || c.ckptSide < 1 || c.ckptStep < 1 || c.ckptF < 1 || c.collIter < 1 {
		return errors.New("workload sizes must be positive")
	}
	for _, m := range []string{c.planesRd, c.ckptRd} {
		if m != "probe" && m != "verify" {
			return fmt.Errorf("reader mode %q: want probe or verify", m)
		}
	}
	if c.rrRepeat < 1 {
		return fmt.Errorf("--rr-repeat %d: want at least 1", c.rrRepeat)
	}
	if c.rrRd != "probe" && c.rrRd != "verify" && c.rrRd != "auto" {
		return fmt.Errorf("--rr-reader %q: want probe, verify or auto", c.rrRd)
	}
	for _, l := range []string{c.ckptNP, c.collNP, c.collD} {
		if _, err := ints(l); err != nil {
			return err
		}
	}
	for _, p := range strings.Split(c.only, ",") {
		switch p {
		case "", "disk", "rr", "planes", "ckpt", "coll", "eot", "lat":
		default:
			return fmt.Errorf("--only: unknown part %q", p)
		}
	}
	return nil
}

// rrSize is one round-robin run.
type rrSize struct{ datasets, passes int }

// rrSizes parses "1000x100,10000x20".
func rrSizes(s string) ([]rrSize, error) {
	var out []rrSize
	for _, f := range strings.Split(s, ",") {
		var z rrSize
		if n, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d", &z.datasets, &z.passes); err != nil || n != 2 || z.datasets < 1 || z.passes < 1 {
			return nil, fmt.Errorf("--rr %q: want DATASETSxPASSES, comma-separated", s)
		}
		out = append(out, z)
	}
	return out, nil
}

// ints parses "1,2,4".
func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want comma-separated positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *config) want(part string) bool {
	if c.only == "" {
		return true
	}
	for _, p := range strings.Split(c.only, ",") {
		if p == part {
			return true
		}
	}
	return false
}

// bench is one run of the suite.
type bench struct {
	cfg  config
	root string // module root
	out  string // output directory
	work string // data files (removed at the end)
	tmp  string // TMPDIR of children (removed at the end)
	bin  string // built commands (removed at the end)
	logs string // each step's output
}

// results is results.json.
type results struct {
	Started  string         `json:"started"`
	Finished string         `json:"finished"`
	Host     hostInfo       `json:"host"`
	Config   map[string]any `json:"config"`
	Disk     *diskResult    `json:"disk,omitempty"`
	// PlanesCache is the page-cache baseline of the planes rows: their
	// bytes in the writes a whole plane's write becomes (planes of at
	// most vfs.MaxWrite bytes, else pieces of that size), after the same
	// settle, just before them. On a virtual machine the page cache's speed depends on whether
	// its memory must first come back from the host, so only a baseline
	// in the rows' own state is their peer (docs/DECISIONS.md).
	PlanesCache *diskResult `json:"page_cache_planes,omitempty"`
	// PiecesCache is the same in the writes pwriter's planes row makes:
	// pieces of about job.PieceBytes, whole rows of a plane.
	PiecesCache *diskResult        `json:"page_cache_pieces,omitempty"`
	Ours        []ourRun           `json:"ours"`
	Peer        peerInfo           `json:"peer"`
	PeerRuns    []peerRun          `json:"peer_runs"`
	Coll        []colltick.Result  `json:"collective_tick"`
	CollErr     string             `json:"collective_tick_error,omitempty"`
	EOT         *eotResult         `json:"eot,omitempty"`
	Ratios      map[string]float64 `json:"ratios"`
	Targets     []target           `json:"targets"`
}

type hostInfo struct {
	CPUs      int     `json:"cpus"`
	Go        string  `json:"go"`
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
	Dir       string  `json:"data_dir"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pwbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "planes-writer" {
		return planesWriter(args[1:])
	}
	var cfg config
	fs := flag.NewFlagSet("pwbench", flag.ContinueOnError)
	cfg.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.rfcFull && !set["timeout"] {
		cfg.timeout = 24 * time.Hour // the full round robin runs for hours
	}
	if cfg.quick && !set["settle"] {
		cfg.settle = 0 // a smoke test: the figures do not matter
	}
	if err := cfg.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	defer b.cleanup()
	res, err := b.suite(ctx)
	if res != nil {
		if werr := b.write(res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// newBench finds the module root and makes the output directory.
func newBench(cfg config) (*bench, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w (is Go installed?)", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return nil, errors.New("run pwbench inside the pwstore module (bench/run does)")
	}
	out, err := filepath.Abs(cfg.out)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, root: filepath.Dir(mod), out: out,
		work: filepath.Join(out, "work"), tmp: filepath.Join(out, "tmp"), bin: filepath.Join(out, "bin"), logs: filepath.Join(out, "logs")}
	for _, d := range []string{b.work, b.tmp, b.bin} {
		if _, err := os.Stat(d); err == nil {
			return nil, fmt.Errorf("%s exists: another pwbench is running in %s, or one was killed (remove it)", d, out)
		}
	}
	for _, d := range []string{b.out, b.work, b.tmp, b.bin, b.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) cleanup() {
	for _, d := range []string{b.work, b.tmp, b.bin} {
		os.RemoveAll(d)
	}
}

func (b *bench) proc(name string) proc {
	return proc{dir: b.root, tmp: b.tmp, timeout: b.cfg.timeout, log: filepath.Join(b.logs, name+".log")}
}

func (b *bench) say(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "pwbench %s [load %.1f] %s\n", time.Now().UTC().Format("15:04:05"), loadAvg(), fmt.Sprintf(format, a...))
}

// suite runs every part; a part that fails is recorded in the results and
// the others still run. Only a failure to build is fatal.
func (b *bench) suite(ctx context.Context) (*results, error) {
	c := b.cfg
	res := &results{Started: time.Now().UTC().Format(time.RFC3339), Ratios: map[string]float64{},
		Host: hostInfo{CPUs: runtime.NumCPU(), LoadStart: loadAvg(), Dir: b.work}}
	res.Config = map[string]any{"tick": c.tick.String(), "max_lag": c.maxLag, "page_size": c.pageSize, "readers": c.readers,
		"rr": c.rr, "planes": c.planes, "planes_datasets": c.planesD, "side": c.side,
		"rr_reader": c.rrRd, "rr_repeat": c.rrRepeat, "planes_reader": c.planesRd, "ckpt_reader": c.ckptRd, "ckpt_side": c.ckptSide, "ckpt_steps": c.ckptStep, "ckpt_fields": c.ckptF,
		"ckpt_ranks": c.ckptNP, "coll_ranks": c.collNP, "coll_deltas": c.collD, "coll_iters": c.collIter,
		"lat_rr": c.latRR, "lat_ckpt_ranks": c.latNP, "lat_ckpt_side": c.latSide, "lat_readers": c.latRd,
		"disk_mb": c.diskMB, "eot_benchtime": c.eotBenchtime, "quick": c.quick, "settle": c.settle.String()}
	if v, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		res.Host.Go = strings.TrimSpace(string(v))
	}

	b.say("building pwriter and preader into %s", b.bin)
	build := b.proc("build")
	build.timeout = max(build.timeout, 10*time.Minute) // a cold build cache takes a while
	if _, err := build.run(ctx, "go", "build", "-o", b.bin+string(filepath.Separator), "./cmd/pwriter", "./cmd/preader"); err != nil {
		return nil, fmt.Errorf("build: %w (see %s)", err, filepath.Join(b.logs, "build.log"))
	}
	if c.noPeer {
		res.Peer = peerInfo{Note: "skipped (--no-peer)"}
	} else if c.want("rr") || c.want("planes") || c.want("lat") {
		b.say("h5peer: running bench/h5peer/setup.sh")
		res.Peer = b.setupPeer(ctx)
		b.say("h5peer: available=%v %s%s", res.Peer.Available, res.Peer.Versions, res.Peer.Note)
	}
	peer := res.Peer.Available

	if c.want("disk") {
		b.say("disk: sequential write of %d MB with fsync", c.diskMB)
		st := b.settle(ctx)
		d := diskBaseline(b.work, int64(c.diskMB)<<20, 1<<20)
		d.rowStart = st
		res.Disk = &d
	}
	if c.want("rr") {
		sizes, _ := rrSizes(c.rr)
		for _, z := range sizes {
			name := fmt.Sprintf("rr-%dx%d", z.datasets, z.passes)
			probe := c.rrRd == "probe" || (c.rrRd == "auto" && z.datasets > 1000)
			var ours []ourRun
			peers := map[string][]peerRun{}
			modes := []string{"swmr", "no-swmr"}
			for k := range c.rrRepeat {
				b.say("rr: %d datasets x %d passes (run %d of %d)", z.datasets, z.passes, k+1, c.rrRepeat)
				ours = append(ours, b.runOurs(ctx, workloadSpec{name: name, kind: "rr", writers: 1, steps: z.passes, datasets: z.datasets, probe: probe}))
				if peer {
					for _, mode := range modes {
						b.say("rr: HDF5 %s (run %d of %d)", mode, k+1, c.rrRepeat)
						peers[mode] = append(peers[mode], b.runPeer(ctx, "hdf5-"+name+"-"+mode, "rr", mode, peerRRArgs(z.datasets, z.passes)...))
					}
				}
			}
			res.Ours = append(res.Ours, medianOurs(ours))
			for _, mode := range modes {
				if len(peers[mode]) > 0 {
					res.PeerRuns = append(res.PeerRuns, medianPeer(peers[mode]))
				}
			}
		}
	}
	if c.want("planes") {
		b.say("planes: %d datasets x %d planes of %dx%d int32", c.planesD, c.planes, c.side, c.side)
		if c.want("disk") {
			plane, row := 4*c.side*c.side, 4*c.side
			baseline := func(block int) *diskResult {
				b.say("planes: page-cache baseline, the planes' bytes in %d-byte writes", block)
				st := b.settle(ctx)
				d := diskBaseline(b.work, int64(c.planesD*c.planes)*int64(plane), block)
				d.rowStart = st
				return &d
			}
			res.PlanesCache = baseline(min(plane, vfs.MaxWrite))
			res.PiecesCache = baseline(int(job.PieceSize(uint64(row))))
		}
		res.Ours = append(res.Ours, b.runOurs(ctx, workloadSpec{name: "planes", kind: "planes", writers: 1, steps: c.planes,
			datasets: c.planesD, side: c.side, probe: c.planesRd == "probe"}))
		if self, err := os.Executable(); err == nil {
			b.say("planes: prefilled like HDF5's (pwbench planes-writer)")
			res.Ours = append(res.Ours, b.runOurs(ctx, workloadSpec{name: "planes-prefilled", kind: "planes", writers: 1, steps: c.planes,
				datasets: c.planesD, side: c.side, probe: true, writer: []string{self, "planes-writer"}}))
		}
		if peer {
			for _, mode := range []string{"swmr", "no-swmr"} {
				b.say("planes: HDF5 %s", mode)
				res.PeerRuns = append(res.PeerRuns, b.runPeer(ctx, "hdf5-planes-"+mode, "planes", mode, peerPlanesArgs(c.planesD, c.planes, c.side)...))
			}
		}
	}
	if c.want("ckpt") {
		nps, _ := ints(c.ckptNP)
		for _, np := range nps {
			b.say("ckpt: %d writer ranks", np)
			res.Ours = append(res.Ours, b.runOurs(ctx, workloadSpec{name: fmt.Sprintf("ckpt-np%d", np), kind: "ckpt", writers: np,
				steps: c.ckptStep, datasets: c.ckptF, side: c.ckptSide, probe: c.ckptRd == "probe"}))
		}
	}
	if c.want("coll") {
		nps, _ := ints(c.collNP)
		deltas, _ := ints(c.collD)
		var errs []error
		for _, np := range nps {
			for _, d := range deltas {
				b.say("collective reader tick: %d ranks, %d-entry deltas", np, d)
				dir := filepath.Join(b.work, fmt.Sprintf("coll-%d-%d", np, d))
				r, err := b.collTick(ctx, dir, np, d)
				if err != nil {
					errs = append(errs, fmt.Errorf("%d ranks, delta %d: %w", np, d, err))
					continue
				}
				res.Coll = append(res.Coll, r)
			}
		}
		if err := errors.Join(errs...); err != nil {
			res.CollErr = err.Error()
		}
	}
	if c.want("lat") {
		b.latency(ctx, res, peer)
	}
	if c.want("eot") {
		b.say("end of tick: mdfile BenchmarkUpdate (indexes of 1,000 and 1,000,000 entries)")
		e := b.runEOT(ctx)
		res.EOT = &e
	}
	res.Host.LoadEnd = loadAvg()
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	evaluate(res, c)
	return res, ctx.Err()
}

// collTick runs one collective-tick measurement in its own directory,
// bounded by the step timeout.
func (b *bench) collTick(ctx context.Context, dir string, ranks, delta int) (colltick.Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return colltick.Result{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	return colltick.Run(ctx, colltick.Options{Dir: dir, Ranks: ranks, Delta: delta, Iters: b.cfg.collIter})
}

// write saves results.json and report.md and prints the report.
func (b *bench) write(res *results) error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := report(res, b.cfg)
	if err := os.WriteFile(filepath.Join(b.out, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintf(os.Stderr, "pwbench: wrote %s and %s\n", filepath.Join(b.out, "report.md"), filepath.Join(b.out, "results.json"))
	return nil
}
