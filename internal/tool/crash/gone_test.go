package crash

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchReportsWriterGone: `preader watch --writer-gone 2s` (one
// reader rank, and two under the local launcher) follows a `pwriter run`
// that pauses longer than that between steps - only its empty ticks keep
// it alive - until the writer is killed with SIGKILL; the watch must then
// fail with "writer gone" within a bound, exit non-zero, and have
// verified every snapshot it adopted before.
func TestWatchReportsWriterGone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills real writer and reader processes")
	}
	bin := binaries(t)
	for _, np := range []int{1, 2} {
		t.Run(fmt.Sprintf("readers=%d", np), func(t *testing.T) { watchWriterGone(t, bin, np) })
	}
}

func watchWriterGone(t *testing.T, bin string, np int) {
	// 100 of the writer's 20 ms ticks: a loaded machine that delays the
	// writer for a while must not make it look gone.
	const gone, pause = 2 * time.Second, 2500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "gone.pw")

	stepped := make(chan struct{})
	var once sync.Once
	writer, err := startGroup([]string{filepath.Join(bin, "pwriter"), "run", "--json", "--tick", "20ms",
		"--step-delay", pause.String(), "--steps", "1000", "--workload", "rr", "--datasets", "4", path},
		func(m map[string]any) {
			if num(m, "steps_complete") > 0 {
				once.Do(func() { close(stepped) })
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.kill()
	writerDone := make(chan error, 1)
	go func() { writerDone <- writer.wait() }()
	select {
	case <-stepped:
	case err := <-writerDone:
		t.Fatalf("writer ended before its first step: %v: %s", err, writer.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("writer completed no step in 30 s")
	}

	var mu sync.Mutex // guards ticks and summary
	ticks := 0
	var summary map[string]any
	argv := []string{filepath.Join(bin, "preader"), "watch", "--json", "--writer-gone", gone.String(), "--timeout", "30s", path}
	if np > 1 {
		argv = append(argv, "--np", fmt.Sprint(np))
	}
	watch, err := startGroup(argv,
		func(m map[string]any) {
			mu.Lock()
			defer mu.Unlock()
			if m["summary"] == true {
				summary = m
			} else {
				ticks++
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer watch.kill()
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.wait() }()

	// Two step pauses: the writer changes nothing for longer than
	// --writer-gone, only its ticks go on, and the watch must stay.
	select {
	case err := <-watchDone:
		t.Fatalf("watch ended while the writer was alive: %v: %s", err, watch.stderr.String())
	case err := <-writerDone:
		t.Fatalf("writer ended by itself: %v: %s", err, writer.stderr.String())
	case <-time.After(2 * pause):
	}
	mu.Lock()
	seen := ticks
	mu.Unlock()
	if seen == 0 {
		t.Fatalf("watch adopted no tick in %v: %s", 2*pause, watch.stderr.String())
	}

	writer.kill()
	killed := time.Now()
	<-writerDone
	var werr error
	select {
	case werr = <-watchDone:
	case <-time.After(gone + 20*time.Second):
		t.Fatalf("watch still running %v after the writer was killed", time.Since(killed).Round(time.Millisecond))
	}
	took := time.Since(killed)
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("watch exit: %v, want a non-zero status", werr)
	}
	mu.Lock()
	defer mu.Unlock()
	if summary == nil {
		t.Fatalf("watch printed no summary; stderr: %s", watch.stderr.String())
	}
	msg, _ := summary["error"].(string)
	if num(summary, "errors") != 1 || !strings.Contains(msg, "writer gone") {
		t.Fatalf("watch summary %v, want one error saying writer gone", summary)
	}
	if num(summary, "snapshots_verified") == 0 {
		t.Fatalf("watch verified no snapshot: %v", summary)
	}
	if !strings.Contains(watch.stderr.String(), "writer gone") {
		t.Errorf("watch's error line does not say writer gone: %s", watch.stderr.String())
	}
	t.Logf("watch reported the writer gone %v after the kill (--writer-gone %v), having adopted %d ticks and verified %v snapshots",
		took.Round(time.Millisecond), gone, ticks, summary["snapshots_verified"])
}
