package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"pwstore/bench/colltick"
)

// target is one performance target of DESIGN section 13 and whether this
// run met it.
type target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Holds    *bool  `json:"holds"` // nil: not measured in this run
}

func (r *results) our(name string) *ourRun {
	for i := range r.Ours {
		if r.Ours[i].Name == name && r.Ours[i].Error == "" {
			return &r.Ours[i]
		}
	}
	return nil
}

func (r *results) peer(name string) *peerRun {
	for i := range r.PeerRuns {
		if r.PeerRuns[i].Name == name && r.PeerRuns[i].Error == "" {
			return &r.PeerRuns[i]
		}
	}
	return nil
}

func verdict(ok bool) *bool { return &ok }

// repeats says what a repeated row's median came from: every run's
// appends/s, ours and HDF5's.
func repeats(ours, peer []float64) string {
	if len(ours) < 2 && len(peer) < 2 {
		return ""
	}
	list := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprintf("%.0f", x)
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("; medians of the runs: ours %s; HDF5 %s", list(ours), list(peer))
}

// usable says whether a disk baseline measured something.
func usable(d *diskResult) bool { return d != nil && d.Error == "" && d.CachedMBps > 0 }

// evaluate computes the ratios ours/peer and checks every target.
func evaluate(r *results, c config) {
	add := func(name, tgt, measured string, holds *bool) {
		r.Targets = append(r.Targets, target{Name: name, Target: tgt, Measured: measured, Holds: holds})
	}
	planes := r.our("planes-prefilled")
	ratio := func(key string, ours, peer float64) (float64, bool) {
		if ours <= 0 || peer <= 0 {
			return 0, false
		}
		r.Ratios[key] = ours / peer
		return ours / peer, true
	}

	// Planes throughput (DESIGN section 13): through Close against HDF5
	// without SWMR, and to the last step against the page cache's
	// bandwidth, like for like (planes-prefilled writes one plane buffer,
	// as HDF5's peer does) and through pwriter (which computes every
	// element's value). HDF5 1.10 SWMR writes planes as fast as without
	// SWMR, so the SWMR ratio is reported, with no target.
	for _, run := range []string{"planes-prefilled", "planes"} {
		ours := r.our(run)
		under := strings.ReplaceAll(run, "-", "_")
		name := fmt.Sprintf("planes through Close >= 0.9x HDF5 no-swmr (%s)", run)
		if p := r.peer("hdf5-planes-no-swmr"); ours == nil || p == nil {
			if c.want("planes") {
				add(name, ">= 0.9", "not measured (ours or the peer missing or failed)", nil)
			}
		} else {
			x, ok := ratio(under+"_mb_per_s_vs_hdf5_no_swmr", ours.MBPerS, p.MBPerSAll)
			add(name, ">= 0.9", fmt.Sprintf("%.2fx (%.0f vs %.0f MB/s, both with creation and close)", x, ours.MBPerS, p.MBPerSAll), verdict(ok && x >= 0.9))
		}
		if p := r.peer("hdf5-planes-swmr"); ours != nil && p != nil {
			ratio(under+"_mb_per_s_vs_hdf5_swmr", ours.MBPerS, p.MBPerSAll)
		}
		name = fmt.Sprintf("planes to the last step >= 0.9x page-cache MB/s (%s)", run)
		if ours == nil || !usable(r.PlanesCache) && !usable(r.Disk) {
			if c.want("planes") {
				add(name, ">= 0.9", "not measured (ours or the disk baseline missing or failed)", nil)
			}
			continue
		}
		// Judged against the baseline in the rows' own state when there is
		// one; the suite's first baseline is reported beside it.
		var xFirst float64
		first := "no first baseline"
		if usable(r.Disk) {
			xFirst, _ = ratio(under+"_to_last_step_vs_page_cache", ours.PubMBPerS, r.Disk.CachedMBps)
			first = fmt.Sprintf("%.2fx the suite's first baseline, %.0f MB/s", xFirst, r.Disk.CachedMBps)
		}
		// Each row against the page cache in writes of its own size: for
		// planes-prefilled those a whole plane's write becomes (vfs.MaxWrite
		// bytes), pwriter's pieces for planes.
		base, pieces := r.PlanesCache, run == "planes" && usable(r.PiecesCache)
		if pieces {
			base = r.PiecesCache
		}
		if !usable(base) {
			add(name, ">= 0.9", fmt.Sprintf("%.2fx (%.0f MB/s to the last step's end of tick; the disk baseline writes %.0f MB/s to the page cache)",
				xFirst, ours.PubMBPerS, r.Disk.CachedMBps), verdict(xFirst >= 0.9))
			continue
		}
		writes := fmt.Sprintf("%d-byte writes, as the data file gets a whole plane", base.Block)
		if pieces {
			writes = fmt.Sprintf("pwriter's %d-byte pieces", base.Block)
		}
		x, ok := ratio(under+"_to_last_step_vs_page_cache_same_state", ours.PubMBPerS, base.CachedMBps)
		add(name, ">= 0.9", fmt.Sprintf("%.2fx (%.0f MB/s to the last step's end of tick; the planes' bytes in %s, settled alike just before, %.0f MB/s to the page cache; %s)",
			x, ours.PubMBPerS, writes, base.CachedMBps, first), verdict(ok && x >= 0.9))
	}
	// Round robin against HDF5 SWMR, every size.
	for _, o := range r.Ours {
		if o.Workload != "rr" || strings.HasPrefix(o.Name, "lat-") { // the latency part has its own targets
			continue
		}
		name := fmt.Sprintf("rr appends/s >= 50x HDF5 SWMR (%s)", o.Name)
		key := strings.ReplaceAll(o.Name, "-", "_")
		p := r.peer("hdf5-" + o.Name + "-swmr")
		if o.Error != "" || p == nil {
			add(name, ">= 50", "not measured: "+firstNonEmpty(o.Error, "no HDF5 figure"), nil)
			continue
		}
		x, ok := ratio(key+"_appends_per_s_vs_hdf5_swmr", o.Appends, p.AppendsAll)
		add(name, ">= 50", fmt.Sprintf("%.2fx (%.0f vs %.0f appends/s, both with creation and close; HDF5 without creation %.0f)%s",
			x, o.Appends, p.AppendsAll, p.Appends, repeats(o.AppendsRuns, p.AppendsRuns)), verdict(ok && x >= 50))
		if q := r.peer("hdf5-" + o.Name + "-no-swmr"); q != nil {
			ratio(key+"_appends_per_s_vs_hdf5_no_swmr", o.Appends, q.AppendsAll)
		}
		ratio(key+"_lat_p99_vs_hdf5_swmr", o.LatP99, p.LatP99)
	}
	if p := r.peer("hdf5-planes-swmr"); planes != nil && p != nil {
		ratio("planes_lat_p99_vs_hdf5_swmr", planes.LatP99, p.LatP99)
	}

	// Write-to-visible latency, every run of ours with readers.
	tick := ms(c.tick)
	for _, o := range r.Ours {
		name := "write-to-visible latency, " + o.Name
		tgt := fmt.Sprintf("p99 <= %.0f ms (2 ticks + 5 ms), max <= %.0f ms (3 ticks)", 2*tick+5, 3*tick)
		if o.Error != "" || o.Readers == 0 {
			add(name, tgt, "not measured: "+firstNonEmpty(o.Error, "no readers"), nil)
			continue
		}
		// The target is in tick lengths of time. Writer ticks published
		// meanwhile are shown, not judged: steps end ticks at Sync, up to
		// ten per tick length, so a count of them is no measure of time.
		ok := o.LatP99 <= 2*tick+5 && o.LatMax <= 3*tick
		add(name, tgt, fmt.Sprintf("p99 %.1f ms, max %.1f ms (%.1f ticks); writer ticks published meanwhile: max %.0f", o.LatP99, o.LatMax, o.LatMax/tick, o.VisMax), verdict(ok))
	}

	latencyTargets(r, c, add)

	// End of tick against index size.
	if e := r.EOT; e != nil {
		small, err1 := e.at(1000, 10)
		big, err2 := e.at(1_000_000, 10)
		if err1 == nil && err2 == nil && small.MS > 0 {
			x := big.MS / small.MS
			r.Ratios["eot_1M_vs_1k_entries_10_changed"] = x
			msr := fmt.Sprintf("10 pages changed: %.2f ms at 1k entries, %.2f ms at 1M (%.1fx for a 1000x index)", small.MS, big.MS, x)
			if p, err := e.at(1_000_000, 1000); err == nil && big.MS > 0 {
				r.Ratios["eot_1M_entries_1000_vs_10_changed"] = p.MS / big.MS
				msr += fmt.Sprintf("; 1,000 changed at 1M: %.2f ms", p.MS)
			}
			add("end of tick grows with pages changed, not index size", "EOT(1M entries) <= 3x EOT(1k entries) at 10 pages changed", msr, verdict(x <= 3))
		} else {
			add("end of tick grows with pages changed, not index size", "EOT(1M entries) <= 3x EOT(1k entries)", "not measured: "+firstNonEmpty(e.Error, "figures missing"), nil)
		}
	}

	// Collective reader tick.
	var coll *colltick.Result
	for i := range r.Coll {
		if r.Coll[i].Ranks == 16 && r.Coll[i].Target == 1000 {
			coll = &r.Coll[i]
		}
	}
	if coll != nil {
		add("collective reader tick, 16 ranks, 1,000-entry delta", "p50 <= 2 ms",
			fmt.Sprintf("p50 %.2f ms (delta %.0f entries)", coll.P50, coll.Delta), verdict(coll.P50 <= 2))
	} else if c.want("coll") {
		add("collective reader tick, 16 ranks, 1,000-entry delta", "p50 <= 2 ms", "not measured: "+firstNonEmpty(r.CollErr, "16 ranks / 1000 not in --coll-ranks/--coll-deltas"), nil)
	}

	// Parallel writer scaling.
	if one := r.our("ckpt-np1"); one != nil {
		limit := 0.0
		if r.Disk != nil && r.Disk.Error == "" {
			limit = r.Disk.FsyncMBps
		}
		var parts []string
		ok, any := true, false
		for _, o := range r.Ours {
			if o.Workload != "ckpt" || o.Writers == 1 || o.Error != "" || strings.HasPrefix(o.Name, "lat-") {
				continue // the latency part's rows are of another size, with verifying readers
			}
			any = true
			want := one.MBPerS * float64(min(o.Writers, r.Host.CPUs))
			if limit > 0 {
				want = min(want, limit)
			}
			x := o.MBPerS / one.MBPerS
			r.Ratios[fmt.Sprintf("ckpt_np%d_vs_np1_mb_per_s", o.Writers)] = x
			parts = append(parts, fmt.Sprintf("%d ranks %.0f MB/s (%.2fx; expected >= 0.8 x %.0f)", o.Writers, o.MBPerS, x, want))
			ok = ok && o.MBPerS >= 0.8*want
		}
		msr := fmt.Sprintf("1 rank %.0f MB/s; %s; disk limit %.0f MB/s", one.MBPerS, strings.Join(parts, "; "), limit)
		var h *bool
		if any {
			h = verdict(ok)
		}
		add("parallel writer MB/s scales until the disk limit",
			"N ranks >= 0.8 x min(min(N, cores) x 1-rank MB/s, disk MB/s with fsync)", msr, h)
	} else if c.want("ckpt") {
		add("parallel writer MB/s scales until the disk limit", "", "not measured: the 1-rank run missing or failed", nil)
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// report renders the results as markdown.
func report(r *results, c config) string {
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	p("# pwstore benchmark\n\n")
	p("Run %s to %s on %d CPUs, %s; load average (1 min) %.1f at the start, %.1f at the end. Data files in %s.\n",
		r.Started, r.Finished, r.Host.CPUs, r.Host.Go, r.Host.LoadStart, r.Host.LoadEnd, r.Host.Dir)
	p("Tick %v, max_lag %d, page size %d B, %d reader ranks following each workload of ours. ", c.tick, c.maxLag, c.pageSize, c.readers)
	if r.Peer.Available {
		p("HDF5 peer: %s.\n\n", r.Peer.Versions)
	} else {
		p("HDF5 peer: not run (%s).\n\n", r.Peer.Note)
	}

	p("## Workloads\n\n")
	p("| run | system | ranks w/r | size | write MB/s | appends/s | latency p50 / p99 / max ms (in ticks) | published to adopted, ticks p50 / p99 / max | EOT p50 / p99 ms | md written per EOT / md file max / data written | load |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, o := range r.Ours {
		size := fmt.Sprintf("%d x %d", o.Datasets, o.Steps)
		if o.Workload == "planes" {
			size = fmt.Sprintf("%d x %d planes %dx%d", o.Datasets, o.Steps, o.Side, o.Side)
		} else if o.Workload == "ckpt" {
			size = fmt.Sprintf("%d fields %d^3 x %d steps", o.Datasets, o.Side, o.Steps)
		}
		if o.Error != "" {
			p("| %s | pwstore | %d/%d | %s | failed: %s | | | | | | %.1f |\n", o.Name, o.Writers, o.Readers, size, oneLine(o.Error), o.Load)
			continue
		}
		apps := fmt.Sprintf("%.0f", o.Appends)
		mbs := fmt.Sprintf("%.1f (%.0f to last step)", o.MBPerS, o.PubMBPerS)
		if o.Workload == "rr" {
			apps += fmt.Sprintf(" (%.0f to last step)", o.PubAppends)
			mbs = "-"
		}
		p("| %s | pwstore (readers: %s) | %d/%d | %s | %s | %s | %.1f / %.1f / %.1f (%.1f / %.1f / %.1f) | %.0f / %.0f / %.0f | %.2f / %.2f | %s / %s / %s | %.1f |\n",
			o.Name, o.Reader, o.Writers, o.Readers, size, mbs, apps, o.LatP50, o.LatP99, o.LatMax, o.LatTP50, o.LatTP99, o.LatTMax,
			o.VisP50, o.VisP99, o.VisMax, o.EOTP50, o.EOTP99, mb(o.MDPerEOT), mb(o.MDMax), mb(o.Bytes), o.Load)
	}
	for _, pr := range r.PeerRuns {
		if pr.Error != "" {
			p("| %s | HDF5 %s | 1/%d | | failed: %s | | | | | | %.1f |\n", pr.Name, pr.Mode, b2i(pr.Mode == "swmr"), oneLine(pr.Error), pr.Load)
			continue
		}
		lat := "-"
		if pr.Mode == "swmr" {
			lat = fmt.Sprintf("%.1f / %.1f / %.1f", pr.LatP50, pr.LatP99, pr.LatMax)
		}
		mbs, apps := fmt.Sprintf("%.1f (%.1f without creation)", pr.MBPerSAll, pr.MBPerS), "-"
		if pr.Workload == "rr" {
			mbs, apps = "-", fmt.Sprintf("%.0f (%.0f without creation)", pr.AppendsAll, pr.Appends)
		}
		p("| %s | HDF5 %s | 1/%d | same | %s | %s | %s | - | - | file %s | %.1f |\n", pr.Name, pr.Mode, b2i(pr.Mode == "swmr"),
			mbs, apps, lat, mb(pr.File), pr.Load)
	}
	p("\nMB are 10^6 bytes. Writer MB/s and appends/s cover creating the file and datasets through close (HDF5's also shown without creation, as h5bench.py reports them); for pwstore, \"to last step\" is from the writer's start (as its own seconds count: after launching, and after --watch readers have joined) to the tick that published the last step, without Close (which publishes one more tick, marks the metadata file finalising and writes the delayed metadata pages at once; it fsyncs only with --durable). Readers: verify = preader watch ranks checking every element of every step; probe = pwbench's reader ranks checking the first values of each step, as HDF5's reader does. Latency: from a step's publication time to a reader rank 0 adopting the tick that shows it (HDF5: from the end of a pass's writes to its polling reader seeing it). In ticks: over the tick length. Published to adopted: writer ticks (heartbeats included) between the tick that published a step and the writer's tick when the reader had adopted it; a parallel writer's tick can end only at a sync point, so the latency can exceed this by the time a step waited for its tick to end. Steps end ticks at Sync (at most one per fiftieth of a tick by default), so these ticks can be shorter than the tick length: the latency target is judged in time only.\n\n")
	p("%s\n\n", settleNote(c))

	sb.WriteString(latencyTable(r, c))

	if d := r.Disk; d != nil {
		p("## Disk baseline\n\n")
		if d.Error != "" {
			p("Failed: %s\n\n", d.Error)
		} else {
			p("Sequential write of %s in 1 MiB blocks: %.0f MB/s including fsync (the physical limit), %.0f MB/s into the page cache before the fsync (load %.1f).\n\n",
				mb(float64(d.Bytes)), d.FsyncMBps, d.CachedMBps, d.Load)
		}
	}
	for _, d := range []*diskResult{r.PlanesCache, r.PiecesCache} {
		switch {
		case d == nil:
		case d.Error != "":
			p("Page-cache baseline of the planes rows failed: %s\n\n", d.Error)
		default:
			p("Page-cache baseline of the planes rows (their %s in %d-byte writes, settled alike, just before them): %.0f MB/s into the page cache, %.0f MB/s including fsync (load %.1f).\n\n",
				mb(float64(d.Bytes)), d.Block, d.CachedMBps, d.FsyncMBps, d.Load)
		}
	}

	if len(r.Coll) > 0 || r.CollErr != "" {
		p("## Collective reader tick\n\n")
		p("| reader ranks | delta asked | delta measured (mean, min-max) | index entries | p50 ms | p99 ms | max ms | rank 0 p50 ms | CPU p50 ms |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.Coll {
			p("| %d | %d | %.0f (%d-%d) | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", x.Ranks, x.Target, x.Delta, x.DeltaMin, x.DeltaMax, x.Entries, x.P50, x.P99, x.Max, x.Rank0P50, x.CPU)
		}
		if r.CollErr != "" {
			p("\nFailed: %s\n", oneLine(r.CollErr))
		}
		p("\nTime from every rank calling Tick to the last rank returning with the new index; ranks are goroutines with their own NATS connections to an embedded server on loopback.\n\n")
	}

	if e := r.EOT; e != nil {
		p("## End of tick against index size (mdfile BenchmarkUpdate)\n\n")
		p("| index entries | pages changed | ms per end of tick | md bytes written |\n|---|---|---|---|\n")
		for _, x := range e.Points {
			p("| %d | %d | %.3f | %s |\n", x.Entries, x.Changed, x.MS, mb(x.MDBytes))
		}
		if e.Error != "" {
			p("\nFailed: %s\n", oneLine(e.Error))
		}
		p("\nChanged pages are spread evenly over the index (the worst case: one index page rewritten per changed page). Load %.1f.\n\n", e.Load)
	}

	if len(r.Ratios) > 0 {
		p("## Ratios (same run)\n\n| ratio | value |\n|---|---|\n")
		for _, k := range sortedKeys(r.Ratios) {
			p("| %s | %.3g |\n", k, r.Ratios[k])
		}
		p("\n")
	}

	p("## Targets (DESIGN section 13)\n\n| target | wanted | measured | holds |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		h := "not measured"
		if t.Holds != nil {
			h = map[bool]string{true: "**yes**", false: "**no**"}[*t.Holds]
		}
		p("| %s | %s | %s | %s |\n", t.Name, t.Target, t.Measured, h)
	}
	return sb.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mb formats a byte count.
func mb(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
	return fmt.Sprintf("%.0f B", n)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func sortedKeys(m map[string]float64) []string { return slices.Sorted(maps.Keys(m)) }

// settleNote says how every writer row started.
func settleNote(c config) string {
	if c.settle <= 0 {
		return "Rows ran back to back (--settle 0): each writer row started after sync(2) only, so its figure depends on the rows before it (bench/README.md)."
	}
	return fmt.Sprintf("Every writer row (ours, HDF5's and the disk baseline) started the same way: the previous row's files removed, a pause of %v (--settle), then sync(2), "+
		"so that no row inherits another's page-cache state: on a virtual machine that returns freed memory to its host, a writer starting within a second of another row's removal reuses that row's pages, one starting later faults its page cache back in from the host (bench/README.md). "+
		"dirty_mb_start and writeback_mb_start in results.json: /proc/meminfo when each row started.", c.settle)
}
