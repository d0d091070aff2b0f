package job

import (
	"errors"
	"fmt"
	"strings"

	"pwstore/coord"
	"pwstore/internal/tool/workload"
)

// VerifyResult is preader verify's report (--json).
type VerifyResult struct {
	OK       bool   `json:"ok"`
	Datasets int    `json:"datasets"`
	Steps    int    `json:"steps"`
	Elements uint64 `json:"elements"`
	Error    string `json:"error,omitempty"`
	// Problems lists every problem found when there are several (Error
	// then counts them and gives the first).
	Problems []string `json:"problems,omitempty"`
}

// Verify deep-checks a closed or recovered workload file: every structure
// and checksum (coord.Reader.Check), then every value of every complete
// step against the workload's value function. Several problems come back
// as one error that counts them and gives the first; res.Problems lists
// them all.
func Verify(path string, cfg coord.Config) (VerifyResult, error) {
	res, err := verify(path, cfg)
	res.OK = err == nil
	var p *problems
	if errors.As(err, &p) {
		res.Problems = p.lines
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res, err
}

// problems summarises the several problems Check found (its error joins
// them, one a line): their count and the first.
type problems struct {
	lines []string
	all   error
}

// checkProblems makes a problems of a Check error of several lines.
func checkProblems(err error) error {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 2 {
		return err
	}
	return &problems{lines: lines, all: err}
}

func (p *problems) Error() string {
	return fmt.Sprintf("%d problems, the first: %s", len(p.lines), p.lines[0])
}

func (p *problems) Unwrap() error { return p.all }

func verify(path string, cfg coord.Config) (VerifyResult, error) {
	var res VerifyResult
	cfg.ManualTicks = true
	r, err := coord.OpenReader(path, cfg)
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Check(); err != nil {
		return res, checkProblems(err)
	}
	infos, err := r.Datasets()
	if err != nil {
		return res, err
	}
	res.Datasets = len(infos)
	tv, err := r.Dataset(workload.TimePath)
	if err != nil {
		return res, fmt.Errorf("%s: %w", workload.TimePath, err)
	}
	p, _, err := paramsOf(tv)
	if err != nil {
		return res, err
	}
	val, _, err := tv.Attr(workload.StepsAttr)
	if err != nil {
		return res, err
	}
	steps, _ := val.Int()
	res.Steps = int(steps)
	w := &watcher{r: r, size: 1}
	w.setLayout(p.Defaults().Layout(1))
	if len(infos) != len(w.layout) {
		return res, fmt.Errorf("%d datasets, the %s workload has %d", len(infos), p.Kind, len(w.layout))
	}
	for s := uint64(0); s < uint64(steps); s += uint64(w.batch) {
		to := min(uint64(steps), s+uint64(w.batch))
		for _, d := range w.data {
			if err := w.checkSteps(d, s, s, to); err != nil {
				return res, err
			}
		}
		for _, d := range w.layout {
			res.Elements += d.StepElems() * (to - s)
		}
	}
	return res, nil
}
