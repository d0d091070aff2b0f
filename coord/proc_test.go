package coord_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/workload"
)

// writerRole is a one-rank writer process (role "writer"): an rr workload
// sized by PW_TEST_TICK, PW_TEST_STEPS and PW_TEST_DELAY, printing its
// tick lines and summary as JSON.
func writerRole(path string) int {
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex // guards out
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		out.Encode(v)
	}
	tick, _ := time.ParseDuration(os.Getenv("PW_TEST_TICK"))
	steps, _ := strconv.Atoi(os.Getenv("PW_TEST_STEPS"))
	delay, _ := time.ParseDuration(os.Getenv("PW_TEST_DELAY"))
	sum, err := job.RunWriter(path, job.WriterOptions{
		Params:    workload.Params{Kind: workload.RR, Datasets: 4, Elems: 3, Steps: steps},
		StepDelay: delay,
		Config:    coord.Config{TickLen: tick, MaxLag: 10},
		OnTick:    func(e job.TickEvent) { emit(e) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 1
	}
	emit(sum)
	return 0
}

// proc is a running role process and its JSON lines.
type proc struct {
	cmd   *exec.Cmd
	lines []map[string]any
	done  chan struct{}
}

// start runs this test binary in role, on path.
func start(t *testing.T, role, path string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"="+role, "PW_TEST_FILE="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines = append(p.lines, m)
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}
