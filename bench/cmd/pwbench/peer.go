package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// peerInfo says whether HDF5 (h5py) is there, as setup.sh found it.
type peerInfo struct {
	Available bool   `json:"available"`
	Versions  string `json:"versions,omitempty"` // setup.sh's line
	Note      string `json:"note,omitempty"`     // why not, when unavailable
}

// peerRun is one h5bench.py run: its JSON line, parsed.
type peerRun struct {
	Name     string  `json:"name"`
	Workload string  `json:"workload"`
	Mode     string  `json:"mode"` // swmr or no-swmr
	Load     float64 `json:"load"`
	Error    string  `json:"error,omitempty"`
	MBPerS   float64 `json:"mb_per_s"`
	Appends  float64 `json:"appends_per_s"`
	// MBPerSAll and AppendsAll count dataset creation too, as pwstore's
	// figures do (h5bench.py's own exclude it: create_seconds).
	MBPerSAll  float64 `json:"mb_per_s_with_create"`
	AppendsAll float64 `json:"appends_per_s_with_create"`
	// AppendsRuns: with --rr-repeat, every run's AppendsAll in the order
	// run; the row is the median one's (medianPeer).
	AppendsRuns []float64      `json:"appends_per_s_with_create_runs,omitempty"`
	Seconds     float64        `json:"seconds"`
	Create      float64        `json:"create_seconds"`
	Bytes       float64        `json:"bytes"`
	File        float64        `json:"file_bytes"`
	LatP50      float64        `json:"lat_ms_p50"`
	LatP99      float64        `json:"lat_ms_p99"`
	LatMax      float64        `json:"lat_ms_max"`
	RdErrors    float64        `json:"reader_errors"`
	Raw         map[string]any `json:"raw,omitempty"`
	rowStart
}

// setupPeer runs bench/h5peer/setup.sh and reads its verdict.
func (b *bench) setupPeer(ctx context.Context) peerInfo {
	p := b.proc("h5peer-setup")
	p.env = []string{"H5PEER_PYTHON=" + b.cfg.python}
	out, err := p.run(ctx, "bash", filepath.Join(b.root, "bench", "h5peer", "setup.sh"))
	text := strings.TrimSpace(string(out.stdout))
	last := text
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		last = text[i+1:]
	}
	switch {
	case err != nil:
		return peerInfo{Note: fmt.Sprintf("setup.sh failed: %v", err)}
	case strings.Contains(last, "peer unavailable"):
		return peerInfo{Note: last}
	case strings.HasPrefix(last, "h5peer: HDF5"):
		return peerInfo{Available: true, Versions: strings.TrimPrefix(last, "h5peer: ")}
	}
	return peerInfo{Note: "setup.sh said: " + last}
}

// runPeer runs one h5bench.py workload in one mode.
func (b *bench) runPeer(ctx context.Context, name, workload, mode string, args ...string) peerRun {
	r := peerRun{Name: name, Workload: workload, Mode: mode}
	argv := append([]string{b.cfg.python, filepath.Join(b.root, "bench", "h5peer", "h5bench.py"), workload, "--" + mode,
		"--dir", b.work}, args...)
	r.rowStart = b.settle(ctx)
	r.Load = loadAvg()
	out, err := b.proc(name).run(ctx, argv...)
	lines := jsonLines(out.stdout)
	if len(lines) == 0 {
		if err == nil {
			err = fmt.Errorf("h5bench.py printed no result")
		}
		r.Error = err.Error()
		return r
	}
	m := lines[len(lines)-1]
	r.Raw = m
	if e, ok := m["error"].(string); ok {
		r.Error = e
		return r
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.MBPerS, r.Appends, r.Seconds, r.Create = num(m, "mb_per_s"), num(m, "appends_per_s"), num(m, "seconds"), num(m, "create_seconds")
	r.Bytes, r.File, r.RdErrors = num(m, "bytes"), num(m, "file_bytes"), num(m, "reader_errors")
	if all := r.Seconds + r.Create; all > 0 {
		r.MBPerSAll = r.Bytes / 1e6 / all
		r.AppendsAll = num(m, "appends") / all
	}
	if lat, ok := m["latency"].(map[string]any); ok {
		r.LatP50, r.LatP99, r.LatMax = num(lat, "p50_ms"), num(lat, "p99_ms"), num(lat, "max_ms")
	}
	return r
}

// peerRRArgs and peerPlanesArgs are h5bench.py's size flags for our workload sizes: the same
// datasets and passes; rr with int64 elements in 512-element chunks, the
// 4 KiB of our rr's 1024-element int32 chunks.
func peerRRArgs(datasets, passes int) []string {
	return []string{"--datasets", strconv.Itoa(datasets), "--passes", strconv.Itoa(passes), "--chunk", "512"}
}

func peerPlanesArgs(datasets, planes, side int) []string {
	return []string{"--datasets", strconv.Itoa(datasets), "--planes", strconv.Itoa(planes), "--side", strconv.Itoa(side)}
}
