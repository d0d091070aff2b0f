package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"pwstore/internal/tool/stats"
)

// ourRun is one workload through pwriter, with readers following.
type ourRun struct {
	Name     string  `json:"name"`
	Workload string  `json:"workload"`
	Writers  int     `json:"writer_ranks"`
	Readers  int     `json:"reader_ranks"`
	Reader   string  `json:"reader"`             // "verify" (preader watch) or "probe" (pwbench's follower)
	Announce string  `json:"announce,omitempty"` // latency part: tick announcements "on" or "off"
	Steps    int     `json:"steps"`
	Datasets int     `json:"datasets"`
	Side     int     `json:"side,omitempty"`
	TickMS   float64 `json:"tick_ms"`
	MaxLag   int     `json:"max_lag"`
	Load     float64 `json:"load"` // 1-minute load average at the start
	Wall     float64 `json:"wall_s"`
	// PubMBPerS is bytes over the time from the writer's start (as its
	// summary's seconds count) to the tick that published its last step,
	// i.e. without Close (one more tick, the finalising mark and the
	// delayed metadata pages written at once).
	PubMBPerS  float64 `json:"published_mb_per_s"`
	PubAppends float64 `json:"published_appends_per_s"` // rr: the same, in appends
	CloseS     float64 `json:"close_s"`                 // last step published to the writer's summary line
	Error      string  `json:"error,omitempty"`
	MBPerS     float64 `json:"mb_per_s"`
	Appends    float64 `json:"appends_per_s"`
	// AppendsRuns: with --rr-repeat, every run's appends/s in the order
	// run; the row is the median one's (medianOurs).
	AppendsRuns []float64 `json:"appends_per_s_runs,omitempty"`
	Bytes       float64   `json:"bytes"`
	Seconds     float64   `json:"seconds"`
	EOTs        float64   `json:"eots"`
	Ticks       float64   `json:"ticks"`
	EOTP50      float64   `json:"eot_ms_p50"`
	EOTP99      float64   `json:"eot_ms_p99"`
	MDMax       float64   `json:"md_bytes_max"`
	MDWritten   float64   `json:"md_bytes_written"`
	MDPerEOT    float64   `json:"md_bytes_per_eot"`
	LatP50      float64   `json:"lat_ms_p50"`
	LatP99      float64   `json:"lat_ms_p99"`
	LatMax      float64   `json:"lat_ms_max"`
	LatTP50     float64   `json:"lat_ticks_p50"` // latency over the tick length
	LatTP99     float64   `json:"lat_ticks_p99"`
	LatTMax     float64   `json:"lat_ticks_max"`
	// PubP50, PubP99: from the writer's publication of a tick (the time in
	// its metadata header) to the reader adopting it (ms).
	PubP50    float64 `json:"pub_ms_p50,omitempty"`
	PubP99    float64 `json:"pub_ms_p99,omitempty"`
	VisP50    float64 `json:"vis_ticks_p50"`
	VisP99    float64 `json:"vis_ticks_p99"`
	VisMax    float64 `json:"vis_ticks_max"`
	Verified  float64 `json:"snapshots_verified"`
	ReadSteps float64 `json:"steps_seen"`
	Errors    float64 `json:"reader_errors"`
	rowStart
}

// workloadSpec says what to run.
type workloadSpec struct {
	name     string
	kind     string
	writers  int
	steps    int
	datasets int
	side     int // 0: the workload's default
	probe    bool
	writer   []string // the writer command instead of pwriter run (one rank, probe readers)
	announce string   // "off": pwriter run --no-announce; "on": the default (both recorded)
	readers  int      // reader ranks (0: --readers)
}

// runOurs runs one workload with pwriter and its readers and parses what
// they print. The data file is removed afterwards.
func (b *bench) runOurs(ctx context.Context, w workloadSpec) ourRun {
	readers := b.cfg.readers
	if w.readers > 0 {
		readers = w.readers
	}
	r := ourRun{Name: w.name, Workload: w.kind, Writers: w.writers, Readers: readers, Reader: "verify",
		Steps: w.steps, Datasets: w.datasets, Side: w.side, TickMS: ms(b.cfg.tick), MaxLag: b.cfg.maxLag, Announce: w.announce}
	switch {
	case readers == 0:
		r.Reader = "none"
	case w.probe:
		r.Reader = "probe"
	}
	file := filepath.Join(b.work, w.name+".pw")
	defer os.Remove(file)
	defer os.Remove(file + ".md")
	args := []string{filepath.Join(b.bin, "pwriter"), "run", "--np", strconv.Itoa(w.writers), "--json",
		"--workload", w.kind, "--steps", strconv.Itoa(w.steps), "--datasets", strconv.Itoa(w.datasets),
		"--tick", b.cfg.tick.String(), "--max-lag", strconv.Itoa(b.cfg.maxLag), "--page-size", strconv.Itoa(b.cfg.pageSize)}
	if w.side > 0 {
		args = append(args, "--side", strconv.Itoa(w.side))
	}
	if w.writer != nil {
		args = append(append([]string{}, w.writer...), "--steps", strconv.Itoa(w.steps), "--datasets", strconv.Itoa(w.datasets),
			"--tick", b.cfg.tick.String(), "--max-lag", strconv.Itoa(b.cfg.maxLag), "--side", strconv.Itoa(max(w.side, 1)),
			"--page-size", strconv.Itoa(b.cfg.pageSize))
	}
	if !w.probe && readers > 0 {
		args = append(args, "--watch", strconv.Itoa(readers), "--watch-timeout", "60s")
	}
	if w.announce == "off" {
		args = append(args, "--no-announce")
	}
	args = append(args, file)
	r.rowStart = b.settle(ctx)
	r.Load = loadAvg()
	p := b.proc(w.name)
	var lastStep, summaryAt time.Time
	p.onLine = func(line []byte, at time.Time) {
		m := jsonLines(line)
		if len(m) != 1 {
			return
		}
		if m[0]["summary"] == true && m[0]["workload"] != nil {
			summaryAt = at
		} else if int(num(m[0], "steps_complete")) >= w.steps && lastStep.IsZero() {
			lastStep = at
		}
	}
	start := time.Now()
	var out output
	var err error
	var fol followSummary
	if w.probe && readers > 0 {
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			fol = follow(fctx, followOptions{path: file, ranks: readers, kind: w.kind,
				datasets: w.datasets, side: w.side, wait: time.Minute})
		}()
		out, err = p.run(ctx, args...)
		if err != nil {
			cancel() // the writer failed: do not wait for the follower's own timeouts
		}
		<-done
		cancel()
	} else {
		out, err = p.run(ctx, args...)
	}
	r.Wall = time.Since(start).Seconds()
	lines := jsonLines(out.stdout)
	var writerTicks, readerTicks []map[string]any
	var wsum, rsum map[string]any
	for _, m := range lines {
		switch {
		case m["summary"] == true && m["workload"] != nil:
			wsum = m
		case m["summary"] == true:
			rsum = m
		case m["steps_complete"] != nil:
			writerTicks = append(writerTicks, m)
		case m["writer_tick"] != nil:
			readerTicks = append(readerTicks, m)
		}
	}
	if w.probe {
		rsum = fol.summary()
		readerTicks = fol.ticks
		if fol.err != nil && err == nil {
			err = fmt.Errorf("probe reader: %w", fol.err)
		}
	}
	if wsum != nil {
		r.MBPerS, r.Appends, r.Bytes, r.Seconds = num(wsum, "mb_per_s"), num(wsum, "appends_per_s"), num(wsum, "bytes"), num(wsum, "seconds")
		r.EOTs, r.Ticks, r.EOTP50, r.EOTP99, r.MDMax = num(wsum, "eots"), num(wsum, "ticks"), num(wsum, "eot_ms_p50"), num(wsum, "eot_ms_p99"), num(wsum, "md_bytes_max")
		r.MDWritten = num(wsum, "md_bytes_written")
		if r.EOTs > 0 {
			r.MDPerEOT = r.MDWritten / r.EOTs
		}
	}
	if rsum != nil {
		r.LatP50, r.LatP99, r.LatMax = num(rsum, "lat_ms_p50"), num(rsum, "lat_ms_p99"), num(rsum, "lat_ms_max")
		r.Verified, r.ReadSteps, r.Errors = num(rsum, "snapshots_verified"), num(rsum, "steps"), num(rsum, "errors")
		r.LatTP50, r.LatTP99, r.LatTMax = r.LatP50/r.TickMS, r.LatP99/r.TickMS, r.LatMax/r.TickMS
		r.PubP50, r.PubP99 = num(rsum, "pub_ms_p50"), num(rsum, "pub_ms_p99")
		if e, ok := rsum["error"].(string); ok && err == nil {
			err = errors.New("reader: " + e)
		}
	}
	if !lastStep.IsZero() && r.Bytes > 0 {
		// From the writer's own start: its summary's seconds end at its
		// summary line. Launching pwriter, and with --watch its readers,
		// which join before the writer starts, comes before that.
		began := start
		if !summaryAt.IsZero() && r.Seconds > 0 {
			began = summaryAt.Add(-time.Duration(r.Seconds * float64(time.Second)))
			r.CloseS = summaryAt.Sub(lastStep).Seconds()
		}
		secs := lastStep.Sub(began).Seconds()
		r.PubMBPerS = r.Bytes / 1e6 / secs
		if w.kind == "rr" {
			r.PubAppends = float64(w.steps*w.datasets) / secs
		}
	}
	vis := visibility(writerTicks, readerTicks)
	if len(vis) > 0 {
		r.VisP50, r.VisP99 = stats.Percentile(vis, 50), stats.Percentile(vis, 99)
		for _, v := range vis {
			r.VisMax = max(r.VisMax, v)
		}
	}
	switch {
	case err != nil:
		r.Error = err.Error()
	case wsum == nil:
		r.Error = "pwriter printed no summary"
	case readers > 0 && rsum == nil:
		r.Error = "the readers printed no summary"
	}
	return r
}

// visibility is, for every step the readers saw, how many writer ticks
// passed between the tick that published it (the first writer tick line
// whose steps_complete covers it) and the writer's tick when a reader had
// adopted it (the reader line's writer_tick).
func visibility(writer, reader []map[string]any) []float64 {
	var pub []uint64 // pub[s]: tick that published step s
	for _, m := range writer {
		t, n := uint64(num(m, "tick")), int(num(m, "steps_complete"))
		for len(pub) < n {
			pub = append(pub, t)
		}
	}
	var out []float64
	seen := 0
	for _, m := range reader {
		n, wt := int(num(m, "steps")), uint64(num(m, "writer_tick"))
		for s := seen; s < n && s < len(pub); s++ {
			out = append(out, float64(wt-min(wt, pub[s])))
		}
		seen = max(seen, n)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
