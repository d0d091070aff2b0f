package main

import (
	"context"
	"fmt"
	"strings"
)

// latency is the latency part: round robin and the checkpoint workload at
// the suite's tick, each with tick announcements on (the --watch job's
// readers wake on them) and off (they poll every 2 ms), --lat-readers
// reader ranks (1, as the acceptance has it) verifying every step,
// beside HDF5 SWMR's polling reader on the same round robin.
func (b *bench) latency(ctx context.Context, res *results, peer bool) {
	c := b.cfg
	z, _ := rrSizes(c.latRR)
	rr := fmt.Sprintf("lat-rr-%dx%d", z[0].datasets, z[0].passes)
	ckpt := fmt.Sprintf("lat-ckpt-np%d", c.latNP)
	for _, a := range []string{"on", "off"} {
		b.say("latency: rr %s, announcements %s", c.latRR, a)
		res.Ours = append(res.Ours, b.runOurs(ctx, workloadSpec{name: rr + "-" + a, kind: "rr", writers: 1,
			steps: z[0].passes, datasets: z[0].datasets, announce: a, readers: c.latRd}))
		b.say("latency: ckpt, %d writer ranks, %d^3, announcements %s", c.latNP, c.latSide, a)
		res.Ours = append(res.Ours, b.runOurs(ctx, workloadSpec{name: ckpt + "-" + a, kind: "ckpt", writers: c.latNP,
			steps: c.ckptStep, datasets: c.ckptF, side: c.latSide, announce: a, readers: c.latRd}))
	}
	if peer {
		b.say("latency: HDF5 swmr, rr %s", c.latRR)
		res.PeerRuns = append(res.PeerRuns, b.runPeer(ctx, "hdf5-"+rr+"-swmr", "rr", "swmr", peerRRArgs(z[0].datasets, z[0].passes)...))
	}
}

// latencyTargets checks the latency part's round robin with announcements
// (issue 18): p50 <= 10 ms and below HDF5 SWMR's in the same run, p99 <= 1
// tick, max <= 2 ticks. Without announcements the suite's general latency
// target applies, as to every run.
func latencyTargets(r *results, c config, add func(name, tgt, measured string, holds *bool)) {
	z, err := rrSizes(c.latRR)
	if !c.want("lat") || err != nil {
		return
	}
	tick := ms(c.tick)
	rr := fmt.Sprintf("lat-rr-%dx%d", z[0].datasets, z[0].passes)
	name := "latency with tick announcements, " + rr
	tgt := fmt.Sprintf("p50 <= 10 ms, p99 <= %.0f ms (1 tick), max <= %.0f ms (2 ticks)", tick, 2*tick)
	o := r.our(rr + "-on")
	if o == nil {
		add(name, tgt, "not measured (the run failed)", nil)
		return
	}
	msr := fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", o.LatP50, o.LatP99, o.LatMax)
	if off := r.our(rr + "-off"); off != nil && off.LatP50 > 0 {
		r.Ratios[strings.ReplaceAll(rr, "-", "_")+"_lat_p50_on_vs_off"] = o.LatP50 / off.LatP50
		msr += fmt.Sprintf("; without announcements p50 %.1f ms", off.LatP50)
	}
	if p := r.peer("hdf5-" + rr + "-swmr"); p != nil && p.LatP50 > 0 {
		r.Ratios[strings.ReplaceAll(rr, "-", "_")+"_lat_p50_on_vs_hdf5_swmr"] = o.LatP50 / p.LatP50
		msr += fmt.Sprintf("; HDF5 SWMR p50 %.1f ms", p.LatP50)
	}
	add(name, tgt, msr, verdict(o.LatP50 <= 10 && o.LatP99 <= tick && o.LatMax <= 2*tick))
}

// latencyTable renders the latency part.
func latencyTable(r *results, c config) string {
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	tick := ms(c.tick)
	rows := 0
	for _, o := range r.Ours {
		if !strings.HasPrefix(o.Name, "lat-") {
			continue
		}
		if rows == 0 {
			p("## Latency: tick announcements on and off\n\n")
			p("| run | announcements | ranks w/r | latency p50 / p99 / max ms | in ticks | published to adopted, ticks p50 / p99 / max | publication to adoption, ms p50 / p99 | writer ticks | EOT p50 ms | appends/s or MB/s | load |\n")
			p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		rows++
		if o.Error != "" {
			p("| %s | %s | %d/%d | failed: %s | | | | | | | %.1f |\n", o.Name, o.Announce, o.Writers, o.Readers, oneLine(o.Error), o.Load)
			continue
		}
		rate := fmt.Sprintf("%.1f MB/s", o.MBPerS)
		if o.Workload == "rr" {
			rate = fmt.Sprintf("%.0f appends/s", o.Appends)
		}
		pub := "-"
		if o.PubP50 > 0 {
			pub = fmt.Sprintf("%.1f / %.1f", o.PubP50, o.PubP99)
		}
		p("| %s | %s | %d/%d | %.1f / %.1f / %.1f | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f | %s | %.0f | %.2f | %s | %.1f |\n",
			o.Name, o.Announce, o.Writers, o.Readers, o.LatP50, o.LatP99, o.LatMax, o.LatTP50, o.LatTP99, o.LatTMax,
			o.VisP50, o.VisP99, o.VisMax, pub, o.Ticks, o.EOTP50, rate, o.Load)
	}
	for _, pr := range r.PeerRuns {
		if !strings.HasPrefix(pr.Name, "hdf5-lat-") {
			continue
		}
		if pr.Error != "" {
			p("| %s | HDF5 SWMR, polling | 1/1 | failed: %s | | | | | | | %.1f |\n", pr.Name, oneLine(pr.Error), pr.Load)
			continue
		}
		p("| %s | HDF5 SWMR, polling | 1/1 | %.1f / %.1f / %.1f | %.2f / %.2f / %.2f | - | - | - | - | %.0f appends/s | %.1f |\n",
			pr.Name, pr.LatP50, pr.LatP99, pr.LatMax, pr.LatP50/tick, pr.LatP99/tick, pr.LatMax/tick, pr.AppendsAll, pr.Load)
	}
	if rows > 0 {
		p("\nReaders verify every element of every step (preader watch, the --watch job; --lat-readers ranks). Announcements on: the writer announces every tick over the NATS server it shares with its readers, who wake on them, read the writer's tick in the header every 0.2 ms while verifying, and poll only every 100 ms should one be lost; off (--no-announce): the readers tick every 2 ms. The writer ends a tick at every step boundary (Sync) unless the last one started less than a fiftieth of a tick ago, or less than twice as long ago as it took. Publication to adoption: from the time in a tick's metadata header (the writer's clock at publication) to the reader adopting that tick (the announcement's delivery or the poll's wait, and the reader's tick); the rest of the latency is the writer's (a step waiting for its end of tick, and the end of tick). HDF5's reader polls one dataset; its latency runs from the end of a pass's writes to its reader seeing it.\n\n")
	}
	return sb.String()
}
