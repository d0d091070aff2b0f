package job

import (
	"errors"

	"pwstore/coord"
	"pwstore/internal/tool/workload"
)

// CompleteSteps is the writer's count of complete steps in r's adopted
// snapshot: 0 before the writer created its datasets.
func CompleteSteps(r *coord.Reader) (int, error) {
	v, err := r.Dataset(workload.TimePath)
	if errors.Is(err, coord.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	val, ok, err := v.Attr(workload.StepsAttr)
	if err != nil || !ok {
		return 0, err
	}
	n, _ := val.Int()
	return int(n), nil
}
