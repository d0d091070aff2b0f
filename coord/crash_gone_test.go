package coord_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pwstore/coord"
)

// TestReaderReportsWriterGone: a reader with WriterGone 2s follows a
// writer process that pauses longer than that between steps (only its
// empty ticks keep it alive) without complaint; once the writer is killed with
// SIGKILL, Tick fails with ErrWriterGone, saying what to run. WriterGone is
// 100 of the writer's 20 ms ticks: a loaded machine that delays the writer
// for a while must not make it look gone.
func TestReaderReportsWriterGone(t *testing.T) {
	const gone, pause = 2 * time.Second, 2500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "gone.pw")
	w := start(t, "writer", path, "PW_TEST_TICK=20ms", "PW_TEST_STEPS=1000", "PW_TEST_DELAY="+pause.String())
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true, OpenWait: 30 * time.Second, WriterGone: gone})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Two step pauses while the writer lives.
	moves, seen := 0, uint64(0)
	for end := time.Now().Add(2 * pause); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		info, err := r.Tick()
		if err != nil {
			t.Fatalf("reader of a live writer: %v", err)
		}
		if info.Changed {
			moves++
		}
		seen = info.Tick
	}
	if moves < 10 {
		t.Fatalf("the tick moved %d times in %v of 20 ms ticks", moves, 2*pause)
	}
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	w.cmd.Wait()
	for {
		info, err := r.Tick()
		if err == nil {
			seen = info.Tick
			if time.Since(killed) > gone+10*time.Second {
				t.Fatalf("no writer-gone report %v after the kill", time.Since(killed))
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if !errors.Is(err, coord.ErrWriterGone) {
			t.Fatalf("reader after the kill: %v, want ErrWriterGone", err)
		}
		if !strings.Contains(err.Error(), "pwriter recover") {
			t.Errorf("the writer-gone error does not say what to run: %v", err)
		}
		t.Logf("writer gone reported %v after the kill (WriterGone %v): %v", time.Since(killed).Round(time.Millisecond), gone, err)
		break
	}
	// Recovery keeps every tick a reader has seen.
	rec, err := coord.Recover(path, coord.Config{WriterGone: gone})
	if err != nil || !rec.Needed || rec.Tick < seen {
		t.Fatalf("recover after the kill: %+v, %v; the reader had seen tick %d", rec, err, seen)
	}
}
