package coord

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogEvents: the RFC's events reach the injected logger with their
// fields.
func TestLogEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.pw")
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	w, err := Create(path, Config{ManualTicks: true, Logger: log.Named("writer")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path, Config{Logger: log.Named("reader")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDataset("/x", Spec{Type: Int32, Shape: []uint64{4}, Chunk: []uint64{4}}); err != nil {
		t.Fatal(err)
	}
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"writer": {"file open", "end of tick", "file close"},
		"reader": {"file open", "end of tick", "file close"},
	}
	fields := map[string][]string{
		"writer/end of tick": {"tick", "eot", "index_entries", "changed", "removed", "md_bytes_written"},
		"reader/end of tick": {"tick", "pages_evicted", "index_entries"},
	}
	for who, events := range want {
		for _, ev := range events {
			found := logs.FilterLoggerName(who).FilterMessage(ev).All()
			if len(found) == 0 {
				t.Errorf("%s logged no %q event", who, ev)
				continue
			}
			ctx := found[len(found)-1].ContextMap()
			for _, f := range fields[who+"/"+ev] {
				if _, ok := ctx[f]; !ok {
					t.Errorf("%s %q event lacks field %q: %v", who, ev, f, ctx)
				}
			}
		}
	}
}
