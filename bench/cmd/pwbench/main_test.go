package main

import (
	"strings"
	"testing"
	"time"
)

func TestVisibility(t *testing.T) {
	writer := jsonLines([]byte(`{"tick":1,"steps_complete":0}
{"tick":2,"steps_complete":2}
{"tick":5,"steps_complete":3}
not json
`))
	reader := jsonLines([]byte(`{"tick":2,"steps":1,"writer_tick":3}
{"tick":5,"steps":3,"writer_tick":7}
`))
	got := visibility(writer, reader)
	// Step 0 (published at 2) seen at writer tick 3; steps 1 (2) and 2 (5) at 7.
	want := []float64{1, 5, 2}
	if len(got) != len(want) {
		t.Fatalf("visibility = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("visibility = %v, want %v", got, want)
		}
	}
}

func TestParseEOT(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkUpdate/index=1000/changed=10-2         	      10	    204008 ns/op	  25.10 MB/s	      1000 entries	     39016 mdbytes/eot	         0.2037 ms/eot
BenchmarkUpdate/index=1000000/changed=1000-2    	      10	  30617421 ns/op	  16.72 MB/s	   1000000 entries	   4868712 mdbytes/eot	        30.62 ms/eot
BenchmarkHeartbeat-2 10 5 ns/op
PASS
`)
	r := eotResult{Points: parseEOT(out)}
	if len(r.Points) != 2 {
		t.Fatalf("parsed %+v", r.Points)
	}
	p, err := r.at(1_000_000, 1000)
	if err != nil || p.MS != 30.62 || p.MDBytes != 4868712 {
		t.Fatalf("at(1M, 1000) = %+v, %v", p, err)
	}
	if _, err := r.at(1000, 1000); err == nil {
		t.Fatal("found a point that is not there")
	}
}

func TestRRSizes(t *testing.T) {
	got, err := rrSizes("1000x100, 10000x20")
	if err != nil || len(got) != 2 || got[1] != (rrSize{10000, 20}) {
		t.Fatalf("rrSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1000", "0x5", "10x-1", "axb"} {
		if _, err := rrSizes(bad); err == nil {
			t.Errorf("rrSizes(%q) accepted", bad)
		}
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{fn: func(b []byte, _ time.Time) { lines = append(lines, string(b)) }}
	w.Write([]byte("ab"))
	w.Write([]byte("c\nd\ne"))
	w.Write([]byte("\n"))
	if strings.Join(lines, "|") != "abc|d|e" {
		t.Fatalf("lines %q", lines)
	}
}

// TestEvaluate: targets hold or fail on the figures, and missing figures
// are "not measured", never a verdict.
func TestEvaluate(t *testing.T) {
	c := config{tick: 100 * time.Millisecond, latRR: "1000x100"}
	r := &results{Ratios: map[string]float64{}, Host: hostInfo{CPUs: 2},
		Ours: []ourRun{
			{Name: "planes-prefilled", Workload: "planes", Readers: 2, MBPerS: 950, PubMBPerS: 1500, LatP99: 150, LatMax: 210},
			{Name: "rr-1000x100", Workload: "rr", Readers: 2, Appends: 60000, LatP99: 250, LatMax: 260},
			{Name: "ckpt-np1", Workload: "ckpt", Writers: 1, Readers: 2, MBPerS: 300},
			{Name: "ckpt-np2", Workload: "ckpt", Writers: 2, Readers: 2, MBPerS: 590},
			{Name: "lat-rr-1000x100-on", Workload: "rr", Readers: 2, Announce: "on", LatP50: 6, LatP99: 90, LatMax: 150},
			{Name: "lat-rr-1000x100-off", Workload: "rr", Readers: 2, Announce: "off", LatP50: 12, LatP99: 90, LatMax: 150},
		},
		PeerRuns: []peerRun{
			{Name: "hdf5-planes-no-swmr", MBPerS: 1100, MBPerSAll: 1000},
			{Name: "hdf5-rr-1000x100-swmr", Appends: 1100, AppendsAll: 1000},
			{Name: "hdf5-lat-rr-1000x100-swmr", Workload: "rr", Mode: "swmr", LatP50: 12},
		},
		Disk: &diskResult{FsyncMBps: 2000, CachedMBps: 2000},
	}
	evaluate(r, c)
	holds := map[string]*bool{}
	for _, tg := range r.Targets {
		holds[tg.Name] = tg.Holds
	}
	check := func(name string, want *bool) {
		t.Helper()
		got, ok := holds[name]
		if !ok {
			t.Fatalf("no target %q in %v", name, r.Targets)
		}
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s: holds %v, want %v", name, fmtB(got), fmtB(want))
		}
	}
	yes, no := verdict(true), verdict(false)
	check("planes through Close >= 0.9x HDF5 no-swmr (planes-prefilled)", yes)
	check("planes to the last step >= 0.9x page-cache MB/s (planes-prefilled)", no)
	check("planes through Close >= 0.9x HDF5 no-swmr (planes)", nil)
	check("rr appends/s >= 50x HDF5 SWMR (rr-1000x100)", yes)
	check("write-to-visible latency, planes-prefilled", yes)
	check("write-to-visible latency, rr-1000x100", no)
	check("parallel writer MB/s scales until the disk limit", yes)
	check("latency with tick announcements, lat-rr-1000x100", yes)
	if x := r.Ratios["lat_rr_1000x100_lat_p50_on_vs_hdf5_swmr"]; x != 0.5 {
		t.Errorf("announced latency over HDF5's: %v", x)
	}
	r.Ours[4].LatMax = 201 // over 2 ticks
	r.Targets = nil
	evaluate(r, c)
	for _, tg := range r.Targets {
		if tg.Name == "latency with tick announcements, lat-rr-1000x100" && (tg.Holds == nil || *tg.Holds) {
			t.Errorf("a max of 2.01 ticks passes: %+v", tg)
		}
	}
	if x := r.Ratios["planes_prefilled_mb_per_s_vs_hdf5_no_swmr"]; x != 0.95 {
		t.Errorf("ratio %v", x)
	}
	// A baseline in the planes rows' own state judges them; the first
	// one is still reported.
	r.PlanesCache = &diskResult{CachedMBps: 1600}
	r.Targets = nil
	evaluate(r, c)
	for _, tg := range r.Targets {
		if tg.Name == "planes to the last step >= 0.9x page-cache MB/s (planes-prefilled)" && (tg.Holds == nil || !*tg.Holds) {
			t.Errorf("1500 MB/s against a 1600 MB/s baseline fails: %+v", tg)
		}
	}
	if x, y := r.Ratios["planes_prefilled_to_last_step_vs_page_cache_same_state"], r.Ratios["planes_prefilled_to_last_step_vs_page_cache"]; x != 1500.0/1600 || y != 0.75 {
		t.Errorf("to the last step: %v against the rows' baseline, %v against the first", x, y)
	}
	rep := report(r, c)
	if !strings.Contains(rep, "| planes-prefilled |") {
		t.Error("report has no planes-prefilled row")
	}
	if !strings.Contains(rep, "| lat-rr-1000x100-off | off |") || !strings.Contains(rep, "| hdf5-lat-rr-1000x100-swmr | HDF5 SWMR, polling |") {
		t.Error("report has no latency table")
	}
}

func fmtB(b *bool) string {
	if b == nil {
		return "nil"
	}
	return map[bool]string{true: "true", false: "false"}[*b]
}
