package e2e

import (
	"bufio"
	"bytes"
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
	cmd    *exec.Cmd
	lines  []map[string]any
	stderr bytes.Buffer
	done   chan struct{}
}

func startJSON(t *testing.T, prog string, args ...string) *jsonLines {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, prog), args...)
	j := &jsonLines{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &j.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
		t.Fatalf("%s: %v: %s", name, err, j.stderr.String())
	}
}

// TestVisibilityInTicks: one writer process appends for about 1,000
// ticks of 10 ms while two reader processes tick and verify every snapshot
// they adopt (preader watch). Visibility is judged in ticks the processes
// count themselves, not in wall-clock time, so that a loaded machine that
// delays a process cannot fail it: once a reader has seen the writer at or
// past the tick that published a step, the step must be visible within 2
// of the reader's own ticks (the next one adopts the newest snapshot; one
// more covers a header slot caught mid-write). How many writer ticks that
// took is logged; the latency figures are the benchmark's (bench/). The
// writer's max_lag (300 ticks, 3 s) lets a reader that the machine delays
// catch up rather than fall behind, and verify every step.
func TestVisibilityInTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s multi-process run")
	}
	visibility(t, 1, 1000, "10ms", "", "")
}

// natsURL starts an embedded NATS server for the test and returns its URL.
func natsURL(t *testing.T) string {
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.URL()
}

// TestVisibilityAnnounced: the same with tick announcements: writer and
// readers share a NATS server (--nats), the writer announces every tick
// and the readers wake on them, ticking by themselves only every 100 ms
// (--poll-fallback, ten writer ticks). Polling alone would adopt at most
// one tick per 100 ms; the readers must adopt at least half as many ticks
// as published steps, which only the announcements can wake them for.
func TestVisibilityAnnounced(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	url := natsURL(t)
	visibility(t, 1, 300, "10ms", url, "100ms")
}

// TestVisibilityAnnouncementsLost: readers listen on the server, the
// writer announces nothing (--no-announce): every announcement is lost.
// The readers fall back to ticking every --poll-fallback (5 ms, half a
// writer tick) and must still verify every snapshot and see every step.
func TestVisibilityAnnouncementsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run")
	}
	url := natsURL(t)
	visibility(t, 1, 300, "10ms", url, "5ms", "--no-announce")
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
// for tick announcements, the readers ticking anyway every fallback (when
// that is 100 ms, they must have been woken by announcements), and
// writerArgs go to the writer.
func visibility(t *testing.T, ranks, steps int, delay, url, fallback string, writerArgs ...string) {
	path := filepath.Join(t.TempDir(), "run.pw")
	watch := []string{"watch", "--json", "--poll", "2ms", "--timeout", "60s", path}
	run := []string{"run", "--json", "--np", fmt.Sprint(ranks), "--workload", "rr", "--datasets", "4", "--elems", "3",
		"--steps", fmt.Sprint(steps), "--step-delay", delay, "--tick", "10ms", "--max-lag", "300", path}
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
			continue
		}
		for n := int(l["steps_complete"].(float64)); len(pub) < n; {
			pub = append(pub, l["tick"].(float64))
		}
	}
	if len(pub) != steps {
		t.Fatalf("writer tick lines account for %d steps, want %d", len(pub), steps)
	}
	published := distinct(pub)
	if published < min(100, steps/2) {
		t.Fatalf("the steps were published by only %d distinct ticks: the run does not exercise visibility", published)
	}
	for i, r := range readers {
		var sum map[string]any
		var lines []map[string]any
		for _, l := range r.lines {
			if l["summary"] == true {
				sum = l
			} else {
				lines = append(lines, l)
			}
		}
		// A reader the machine delays by half of max_lag spot-checks the
		// newest step and counts the ones it skipped: a few at most.
		if sum == nil || sum["errors"] != 0.0 || sum["steps"] != float64(steps) || sum["steps_unverified"].(float64) > float64(steps/10) {
			t.Fatalf("reader %d summary: %v", i, sum)
		}
		if fallback == "100ms" && sum["ticks"].(float64) < float64(published)/2 {
			t.Fatalf("reader %d adopted %v ticks for %d publishing ticks: announcements did not wake it", i, sum["ticks"], published)
		}
		worstReader, worstWriter := 0.0, 0.0
		for s := range steps {
			seen := -1    // the first line at which the reader knew the writer had published step s
			visible := -1 // the first line at which step s was visible
			for k, l := range lines {
				if seen < 0 && l["writer_tick"].(float64) >= pub[s] {
					seen = k
				}
				if l["steps"].(float64) > float64(s) {
					visible = k
					break
				}
			}
			if visible < 0 {
				t.Fatalf("reader %d never saw step %d", i, s)
			}
			worstWriter = max(worstWriter, lines[visible]["writer_tick"].(float64)-pub[s])
			if seen < 0 || seen == visible {
				continue
			}
			after := lines[visible]["reader_ticks"].(float64) - lines[seen]["reader_ticks"].(float64)
			worstReader = max(worstReader, after)
			if after > 2 {
				t.Errorf("reader %d: step %d (published at writer tick %v) became visible %v of its own ticks after it saw writer tick %v",
					i, s, pub[s], after, lines[seen]["writer_tick"])
			}
		}
		t.Logf("reader %d: %v snapshots verified over %v ticks (%v steps spot-checked only); worst visibility %v reader ticks after seeing the publishing tick, %v writer ticks after publication; latency p50 %.2f ms p99 %.2f ms",
			i, sum["snapshots_verified"], sum["ticks"], sum["steps_unverified"], worstReader, worstWriter, sum["lat_ms_p50"], sum["lat_ms_p99"])
	}
}

// distinct counts the different values of a sorted slice.
func distinct(xs []float64) int {
	n := 0
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			n++
		}
	}
	return n
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
	url := natsURL(t)
	path := filepath.Join(t.TempDir(), "job.pw")
	start := time.Now()
	res := run(t, "pwriter", "run", "--json", "--watch", "1", "--nats", url, "--workload", "rr", "--datasets", "4",
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
