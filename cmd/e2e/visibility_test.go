package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// jsonLines starts a command and collects the JSON lines it prints.
type jsonLines struct {
	cmd   *exec.Cmd
	lines []map[string]any
	done  chan struct{}
}

func startJSON(t *testing.T, prog string, args ...string) *jsonLines {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, prog), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j := &jsonLines{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				j.lines = append(j.lines, m)
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return j
}

func (j *jsonLines) wait(t *testing.T, name string) {
	t.Helper()
	<-j.done
	if err := j.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestVisibilityInTicks: one writer process appends for at least 1,000
// ticks of 10 ms while two reader processes tick and verify every snapshot
// they adopt (preader watch); every step must become visible to each
// reader within 3 writer ticks of the tick that published it.
func TestVisibilityInTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s multi-process run")
	}
	visibility(t, 1, 1000, "10ms", "", "")
}

// TestVisibilityAnnounced: the same with tick announcements: writer and
// readers share a NATS server (--nats), the writer announces every tick
// and the readers wake on them, ticking by themselves only every 100 ms
// (--poll-fallback, ten writer ticks): only the announcements can keep
// every step within 3 ticks.
func TestVisibilityAnnounced(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	visibility(t, 1, 300, "10ms", srv.URL(), "100ms")
}

// TestVisibilityAnnouncementsLost: readers listen on the server, the
// writer announces nothing (--no-announce): every announcement is lost.
// The readers fall back to ticking every --poll-fallback (5 ms, half a
// writer tick) and must still verify every snapshot and see every step
// within 3 ticks.
func TestVisibilityAnnouncementsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	visibility(t, 1, 300, "10ms", srv.URL(), "5ms", "--no-announce")
}

// TestVisibilityParallelWriter: the same with a 2-rank writer, which can
// publish only at sync points (its step boundaries among them).
func TestVisibilityParallelWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	visibility(t, 2, 300, "20ms", "", "")
}

// visibility runs the test; with a NATS URL, writer and readers use it
// for tick announcements, the readers ticking anyway every fallback, and
// writerArgs go to the writer.
func visibility(t *testing.T, ranks, steps int, delay, url, fallback string, writerArgs ...string) {
	path := filepath.Join(t.TempDir(), "run.pw")
	watch := []string{"watch", "--json", "--poll", "2ms", "--timeout", "60s", path}
	run := []string{"run", "--json", "--np", fmt.Sprint(ranks), "--workload", "rr", "--datasets", "4", "--elems", "3",
		"--steps", fmt.Sprint(steps), "--step-delay", delay, "--tick", "10ms", path}
	if url != "" {
		watch = append(watch, "--nats", url, "--poll-fallback", fallback)
		run = append(run, "--nats", url)
	}
	run = append(run, writerArgs...)
	readers := []*jsonLines{startJSON(t, "preader", watch...), startJSON(t, "preader", watch...)}
	w := startJSON(t, "pwriter", run...)
	w.wait(t, "pwriter")
	for i, r := range readers {
		r.wait(t, fmt.Sprintf("reader %d", i))
	}
	// A step is published by the first tick whose steps_complete exceeds it.
	var pub []float64
	for _, l := range w.lines {
		if l["summary"] == true {
			if ranks == 1 && l["ticks"].(float64) < float64(steps) {
				t.Fatalf("writer published %v ticks, want at least %d", l["ticks"], steps)
			}
			continue
		}
		for n := int(l["steps_complete"].(float64)); len(pub) < n; {
			pub = append(pub, l["tick"].(float64))
		}
	}
	if len(pub) != steps {
		t.Fatalf("writer tick lines account for %d steps, want %d", len(pub), steps)
	}
	for i, r := range readers {
		var sum map[string]any
		seen, worst := 0, 0.0
		for _, l := range r.lines {
			if l["summary"] == true {
				sum = l
				continue
			}
			for n := int(l["steps"].(float64)); seen < n; seen++ {
				delay := l["writer_tick"].(float64) - pub[seen]
				worst = max(worst, delay)
				if delay > 3 {
					t.Errorf("reader %d saw step %d at writer tick %v; it was published at tick %v: %v ticks later",
						i, seen, l["writer_tick"], pub[seen], delay)
				}
			}
		}
		if sum == nil || sum["errors"] != 0.0 || sum["steps"] != float64(steps) || sum["steps_unverified"] != 0.0 {
			t.Fatalf("reader %d summary: %v", i, sum)
		}
		t.Logf("reader %d: %v snapshots verified over %v ticks, worst visibility %v ticks, latency p50 %.2f ms p99 %.2f ms",
			i, sum["snapshots_verified"], sum["ticks"], worst, sum["lat_ms_p50"], sum["lat_ms_p99"])
	}
}

// TestWatchJobAnnouncesOnGivenServer: pwriter run --watch with --nats URL
// announces on that server and its readers listen there too (not on the
// launcher's own server): a reader that polls only every 100 ms
// (--poll-fallback's default) adopts at most one tick per poll, so
// adopting many more ticks than the run had polls means announcements
// woke it.
func TestWatchJobAnnouncesOnGivenServer(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	path := filepath.Join(t.TempDir(), "job.pw")
	start := time.Now()
	res := run(t, "pwriter", "run", "--json", "--watch", "1", "--nats", srv.URL(), "--workload", "rr", "--datasets", "4",
		"--elems", "3", "--steps", "200", "--step-delay", "10ms", "--tick", "10ms", path)
	polls := time.Since(start)/(100*time.Millisecond) + 1
	if res.code != 0 {
		t.Fatalf("job exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	var reader map[string]any
	for _, s := range summaries(t, res.stdout) {
		if _, ok := s["snapshots_verified"]; ok {
			reader = s
		}
	}
	if reader == nil || reader["errors"] != 0.0 || reader["steps"] != 200.0 {
		t.Fatalf("reader summary: %v", reader)
	}
	if ticks := reader["ticks"].(float64); ticks <= 2*float64(polls) {
		t.Fatalf("the reader adopted %v ticks in %d polls' time: it was not woken by announcements", ticks, polls)
	}
}
