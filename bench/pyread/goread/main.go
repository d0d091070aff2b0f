// Command goread is the Go peer of bench/pyread: it reads 1000x1000 float64
// planes of a pwstore file through the Go API (coord.Reader.ReadSlab), the
// same way bench/pyread/readplane.py reads them through Python, and prints
// the times per plane as one JSON line.
//
//	goread FILE DATASET REPEATS
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"pwstore/coord"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "goread:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: goread FILE DATASET REPEATS")
	}
	repeats, err := strconv.Atoi(args[2])
	if err != nil || repeats < 1 {
		return fmt.Errorf("bad REPEATS %q", args[2])
	}
	r, err := coord.OpenReader(args[0], coord.Config{ManualTicks: true})
	if err != nil {
		return err
	}
	defer r.Close()
	v, err := r.Dataset(args[1])
	if err != nil {
		return err
	}
	shape, err := v.Shape()
	if err != nil {
		return err
	}
	count := append([]uint64{1}, shape[1:]...)
	n := 8
	for _, c := range count {
		n *= int(c)
	}
	// reused: one buffer for every read (what a Python read(out=...) does);
	// fresh: a new buffer per read (what d[k] does: numpy allocates).
	reused, fresh := make([]float64, 0, repeats), make([]float64, 0, repeats)
	buf := make([]byte, n)
	for i := range 2 * repeats {
		start := make([]uint64, len(shape))
		start[0] = uint64(i) % shape[0]
		b := buf
		if i%2 == 1 {
			b = make([]byte, n)
		}
		t := time.Now()
		if err := v.ReadSlab(start, count, b); err != nil {
			return err
		}
		ms := float64(time.Since(t).Nanoseconds()) / 1e6
		if i%2 == 1 {
			fresh = append(fresh, ms)
		} else {
			reused = append(reused, ms)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"bytes": n, "reused_ms_median": median(reused), "reused_ms_min": slices.Min(reused),
		"fresh_ms_median": median(fresh), "fresh_ms_min": slices.Min(fresh),
	})
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
