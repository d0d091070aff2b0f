package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// eotPoint is one end of tick of the metadata file's writer: changed pages
// published into an index of entries entries (mdfile's BenchmarkUpdate).
type eotPoint struct {
	Entries int     `json:"index_entries"`
	Changed int     `json:"pages_changed"`
	MS      float64 `json:"ms_per_eot"`
	MDBytes float64 `json:"md_bytes_per_eot"`
}

// eotResult is the run of mdfile's benchmark.
type eotResult struct {
	Points []eotPoint `json:"points"`
	Load   float64    `json:"load"`
	Error  string     `json:"error,omitempty"`
}

var eotName = regexp.MustCompile(`^BenchmarkUpdate/index=(\d+)/changed=(\d+)`)

// runEOT runs `go test -bench BenchmarkUpdate ./mdfile/` and parses its
// ms/eot metrics.
func (b *bench) runEOT(ctx context.Context) eotResult {
	r := eotResult{Load: loadAvg()}
	out, err := b.proc("eot-mdfile").run(ctx, "go", "test", "-count=1", "-run", "^$", "-bench", "^BenchmarkUpdate$",
		"-benchtime", b.cfg.eotBenchtime, "./mdfile/")
	r.Points = parseEOT(out.stdout)
	if err != nil {
		r.Error = err.Error()
	} else if len(r.Points) == 0 {
		r.Error = "mdfile's BenchmarkUpdate printed no results"
	}
	return r
}

// parseEOT reads go test's benchmark lines: name, iterations, then value
// and unit pairs.
func parseEOT(out []byte) []eotPoint {
	var pts []eotPoint
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		m := eotName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		p := eotPoint{}
		p.Entries, _ = strconv.Atoi(m[1])
		p.Changed, _ = strconv.Atoi(m[2])
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ms/eot":
				p.MS = v
			case "mdbytes/eot":
				p.MDBytes = v
			}
		}
		pts = append(pts, p)
	}
	return pts
}

// eotAt finds the point for (entries, changed).
func (r eotResult) at(entries, changed int) (eotPoint, error) {
	for _, p := range r.Points {
		if p.Entries == entries && p.Changed == changed {
			return p, nil
		}
	}
	return eotPoint{}, fmt.Errorf("no end-of-tick figure for %d entries, %d changed", entries, changed)
}
