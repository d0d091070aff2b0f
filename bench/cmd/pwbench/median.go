package main

import (
	"cmp"
	"slices"
)

// medianOurs is the run of runs (one row, repeated) with the median
// appends/s - the lower middle one of an even count - carrying every run's
// figure; a failed run, if any, instead, so that the failure shows.
func medianOurs(runs []ourRun) ourRun {
	return median(runs, func(r ourRun) float64 { return r.Appends }, func(r ourRun) string { return r.Error },
		func(r *ourRun, all []float64) { r.AppendsRuns = all })
}

// medianPeer is medianOurs for HDF5's runs, by appends/s with creation.
func medianPeer(runs []peerRun) peerRun {
	return median(runs, func(r peerRun) float64 { return r.AppendsAll }, func(r peerRun) string { return r.Error },
		func(r *peerRun, all []float64) { r.AppendsRuns = all })
}

func median[R any](runs []R, fig func(R) float64, failed func(R) string, set func(*R, []float64)) R {
	all := make([]float64, len(runs))
	for i, r := range runs {
		if failed(r) != "" {
			return r
		}
		all[i] = fig(r)
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b R) int { return cmp.Compare(fig(a), fig(b)) })
	m := sorted[(len(sorted)-1)/2]
	if len(runs) > 1 {
		set(&m, all)
	}
	return m
}
