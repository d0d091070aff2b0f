// Package e2e runs the built commands as a user would.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var bin string // directory holding the built pwriter and preader

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pwstore-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "pwstore/cmd/pwriter", "pwstore/cmd/preader")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, prog string, args ...string) result {
	t.Helper()
	return runWithin(t, 10*time.Minute, prog, args...)
}

// summaries returns the "summary":true lines of out, in order.
func summaries(t *testing.T, out string) []map[string]any {
	t.Helper()
	var sums []map[string]any
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["summary"] == true {
			sums = append(sums, m)
		}
	}
	return sums
}

// TestMainJob runs the README's main job: a 4-rank writer with 2 reader
// ranks following it on the embedded NATS.
func TestMainJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.pw")
	res := run(t, "pwriter", "run", "--np", "4", "--watch", "2", "--json", "--steps", "30", path)
	if res.code != 0 {
		t.Fatalf("main job exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	var writer, reader map[string]any
	for _, s := range summaries(t, res.stdout) {
		if _, ok := s["workload"]; ok {
			writer = s
		} else if _, ok := s["snapshots_verified"]; ok {
			reader = s
		}
	}
	if writer == nil || reader == nil {
		t.Fatalf("want a writer and a reader summary:\n%s", res.stdout)
	}
	if writer["ranks"] != 4.0 || writer["steps"] != 30.0 || writer["workload"] != "ckpt" {
		t.Errorf("writer summary: %v", writer)
	}
	for _, f := range []string{"bytes", "seconds", "mb_per_s", "appends_per_s", "ticks", "eot_ms_p50", "eot_ms_p99", "md_bytes_max"} {
		if _, ok := writer[f]; !ok {
			t.Errorf("writer summary lacks %q", f)
		}
	}
	if reader["errors"] != 0.0 || reader["steps"] != 30.0 || reader["ranks"] != 2.0 || reader["snapshots_verified"].(float64) < 1 {
		t.Errorf("reader summary: %v", reader)
	}
	if v := run(t, "preader", "verify", "--json", path); v.code != 0 || !strings.Contains(v.stdout, `"ok":true`) {
		t.Errorf("verify after the main job: %+v", v)
	}
}

// smallFile writes a one-rank rr file for the reading tests.
func smallFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "small.pw")
	if res := run(t, "pwriter", "run", "--workload", "rr", "--steps", "7", "--datasets", "3", "--elems", "5", "--tick", "10ms", path); res.code != 0 {
		t.Fatalf("pwriter: %+v", res)
	}
	return path
}

// TestExportNumpy loads an export with numpy and compares it with cat.
func TestExportNumpy(t *testing.T) {
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with numpy")
	}
	path := smallFile(t)
	out := filepath.Join(t.TempDir(), "d.npy")
	for _, slice := range []string{"", "2:30"} {
		if res := run(t, "preader", "export", path, "/rr/d00001", "--npy", out, "--slice", slice); res.code != 0 {
			t.Fatalf("export: %+v", res)
		}
		cat := run(t, "preader", "cat", "--json", path, "/rr/d00001", "--slice", slice)
		if cat.code != 0 {
			t.Fatalf("cat: %+v", cat)
		}
		var want struct {
			Shape []int   `json:"shape"`
			Data  []int64 `json:"data"`
		}
		if err := json.Unmarshal([]byte(cat.stdout), &want); err != nil {
			t.Fatal(err)
		}
		script := "import numpy, json, sys; a = numpy.load(sys.argv[1]); print(json.dumps({'dtype': str(a.dtype), 'shape': list(a.shape), 'data': a.ravel().tolist()}))"
		got, err := exec.Command(python, "-c", script, out).Output()
		if err != nil {
			t.Fatalf("numpy.load: %v", err)
		}
		var np struct {
			DType string  `json:"dtype"`
			Shape []int   `json:"shape"`
			Data  []int64 `json:"data"`
		}
		if err := json.Unmarshal(got, &np); err != nil {
			t.Fatal(err)
		}
		if np.DType != "int32" || fmt.Sprint(np.Shape) != fmt.Sprint(want.Shape) || fmt.Sprint(np.Data) != fmt.Sprint(want.Data) || len(np.Data) == 0 {
			t.Fatalf("slice %q: numpy read %s %v %v, cat printed %v %v", slice, np.DType, np.Shape, np.Data, want.Shape, want.Data)
		}
	}
}

// TestBadInput: one clear line on stderr, "prog command: ...", and a
// non-zero exit for each.
func TestBadInput(t *testing.T) {
	path := smallFile(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pw")
	os.WriteFile(junk, bytes.Repeat([]byte("not a checkpoint "), 1000), 0o644)
	cases := []struct {
		prog string
		args []string
		code int
		says string
	}{
		{"pwriter", []string{"run", "--no-such-flag", path}, 2, "flag provided but not defined"},
		{"pwriter", []string{"run", "--workload", "bogus", filepath.Join(dir, "x.pw")}, 2, "unknown workload"},
		{"pwriter", []string{"run", "--max-lag", "2", "--tick", "10ms", filepath.Join(dir, "y.pw")}, 2, "--max-lag 2: must be at least 3"},
		{"pwriter", []string{"run", path}, 1, "file exists"},
		{"pwriter", []string{"frobnicate"}, 2, "unknown command"},
		{"preader", []string{"ls", filepath.Join(dir, "missing.pw")}, 1, "no such file"},
		{"preader", []string{"ls", junk}, 1, "not a pwstore file"},
		{"preader", []string{"verify", junk}, 1, "not a pwstore file"},
		{"preader", []string{"cat", path, "/no/such"}, 1, `no dataset "/no/such"`},
		{"preader", []string{"cat", path, "/rr/d00000", "--slice", "0:99999"}, 2, "outside"},
		{"preader", []string{"export", path, "/rr/d00000"}, 2, "--npy OUT is required"},
		{"preader", []string{"ls"}, 2, "want 1 argument"},
		{"pwriter", []string{"recover", filepath.Join(dir, "missing.pw")}, 1, "no such file"},
	}
	for _, c := range cases {
		res := run(t, c.prog, c.args...)
		lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
		prefix := c.prog + " " + c.args[0] + ": "
		if c.args[0] == "frobnicate" {
			prefix = c.prog + ": "
		}
		if res.code != c.code || len(lines) != 1 || !strings.Contains(res.stderr, c.says) || !strings.HasPrefix(res.stderr, prefix) {
			t.Errorf("%s %v: exit %d, stderr %q; want exit %d and one line saying %q", c.prog, c.args, res.code, res.stderr, c.code, c.says)
		}
	}
	// Nothing of the good file was lost on the way.
	if res := run(t, "preader", "verify", path); res.code != 0 {
		t.Fatalf("verify after bad commands: %+v", res)
	}
}
