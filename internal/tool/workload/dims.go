package workload

import "strings"

// DimsAttr is the attribute that names a dataset's dimensions, comma
// separated, first dimension first: the Python package's xarray backend
// takes its dimension names from it.
const DimsAttr = "dims"

// Dims names d's dimensions: "step" for a first dimension that grows by
// one row per step ("sample" when a step appends several), then the
// spatial axes (z, y, x order ends with x, the fastest varying).
func (d Dataset) Dims() string {
	first := "step"
	if d.Rows != 1 {
		first = "sample"
	}
	axes := []string{"x", "y", "z", "w"}
	names := []string{first}
	for i := range d.Step {
		names = append(names, axes[len(d.Step)-1-i])
	}
	return strings.Join(names, ",")
}
