package coord_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/job"
	"pwstore/internal/workload"
)

// Test processes: the test binary runs itself with PW_TEST_ROLE set.
const envRole = "PW_TEST_ROLE"

func TestMain(m *testing.M) {
	switch role := os.Getenv(envRole); role {
	case "":
	case "writer", "reader":
		os.Exit(runRole(role, os.Getenv("PW_TEST_FILE")))
	default:
		os.Exit(rankRole(role, os.Getenv("PW_TEST_FILE")))
	}
	os.Exit(m.Run())
}

// runRole is the body of a writer or reader process; it prints JSON lines.
func runRole(role, path string) int {
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		out.Encode(v)
	}
	tick, _ := time.ParseDuration(os.Getenv("PW_TEST_TICK"))
	switch role {
	case "writer":
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
	case "reader":
		sum, err := job.Watch(path, job.WatchOptions{
			Config: coord.Config{}, Timeout: 60 * time.Second, Poll: 2 * time.Millisecond,
			OnTick: func(e job.WatchTick) { emit(e) },
		})
		emit(sum)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
	default:
		return 2
	}
	return 0
}

// proc is a running role process and its JSON lines.
type proc struct {
	cmd   *exec.Cmd
	lines []map[string]any
	done  chan struct{}
}

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

func (p *proc) wait(t *testing.T, name string) {
	t.Helper()
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func summary(t *testing.T, p *proc, name string) map[string]any {
	t.Helper()
	for _, l := range p.lines {
		if l["summary"] == true {
			return l
		}
	}
	t.Fatalf("%s printed no summary", name)
	return nil
}

// TestWriterAndReaderProcesses: one writer process appends for at least
// 1,000 ticks of 10 ms while two reader processes tick and verify every
// snapshot they adopt; every step must become visible to each reader within
// 3 writer ticks of the tick that published it.
func TestWriterAndReaderProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run of 10+ s")
	}
	path := filepath.Join(t.TempDir(), "run.pw")
	readers := []*proc{start(t, "reader", path), start(t, "reader", path)}
	w := start(t, "writer", path, "PW_TEST_TICK=10ms", "PW_TEST_STEPS=1000", "PW_TEST_DELAY=10ms")
	w.wait(t, "writer")
	for i, r := range readers {
		r.wait(t, fmt.Sprintf("reader %d", i))
	}
	// When each step was published: the first tick whose steps_complete
	// exceeds it.
	var pub []float64
	ticks := 0
	for _, l := range w.lines {
		if l["summary"] == true {
			continue
		}
		ticks++
		for n := int(l["steps_complete"].(float64)); len(pub) < n; {
			pub = append(pub, l["tick"].(float64))
		}
	}
	if ticks < 1000 {
		t.Fatalf("writer published %d ticks, want at least 1000", ticks)
	}
	if len(pub) != 1000 {
		t.Fatalf("writer tick lines account for %d steps, want 1000", len(pub))
	}
	for i, r := range readers {
		sum := summary(t, r, "reader")
		if sum["errors"].(float64) != 0 || sum["steps"].(float64) != 1000 {
			t.Fatalf("reader %d: %v", i, sum)
		}
		seen, worst := 0, 0.0
		for _, l := range r.lines {
			if l["summary"] == true {
				continue
			}
			for n := int(l["steps"].(float64)); seen < n; seen++ {
				delay := l["writer_tick"].(float64) - pub[seen]
				worst = max(worst, delay)
				if delay > 3 {
					t.Errorf("reader %d saw step %d at writer tick %v, published at tick %v: %v ticks late",
						i, seen, l["writer_tick"], pub[seen], delay)
				}
			}
		}
		t.Logf("reader %d: %v snapshots verified over %v ticks, worst visibility %v ticks, latency p50 %.2f ms p99 %.2f ms",
			i, sum["snapshots_verified"], sum["ticks"], worst, sum["lat_ms_p50"], sum["lat_ms_p99"])
	}
}
