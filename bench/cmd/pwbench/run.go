package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc runs one child process of the bench: in its own process group (so a
// timeout kills the ranks it launched too), with TMPDIR inside the output
// directory, its stdout kept and also written to a log file.
type proc struct {
	dir     string   // working directory
	env     []string // extra environment
	tmp     string   // TMPDIR for the child
	timeout time.Duration
	log     string // file receiving stdout and stderr
	// onLine, if set, gets every line of stdout as it arrives, with the
	// time it arrived.
	onLine func(line []byte, at time.Time)
}

// output is what a child printed.
type output struct {
	stdout []byte
	stderr []byte
}

// run runs argv and returns its output; a non-zero exit or a timeout is an
// error naming the command and the last line of its stderr.
func (p proc) run(ctx context.Context, argv ...string) (output, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "TMPDIR="+p.tmp)
	cmd.Env = append(cmd.Env, p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	var logw io.Writer = io.Discard
	if p.log != "" {
		f, err := os.Create(p.log)
		if err != nil {
			return output{}, err
		}
		defer f.Close()
		fmt.Fprintf(f, "$ %s\n", strings.Join(argv, " "))
		logw = f
	}
	var lines io.Writer = io.Discard
	if p.onLine != nil {
		lines = &lineWriter{fn: p.onLine}
	}
	cmd.Stdout = io.MultiWriter(&stdout, logw, lines)
	cmd.Stderr = io.MultiWriter(&stderr, logw)
	err := cmd.Run()
	out := output{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if ctx.Err() == context.DeadlineExceeded {
		return out, fmt.Errorf("%s: timed out after %v", argv[0], p.timeout)
	}
	if err != nil {
		return out, fmt.Errorf("%s %s: %w%s", argv[0], firstArg(argv), err, lastLine(stderr.Bytes()))
	}
	return out, nil
}

func firstArg(argv []string) string {
	if len(argv) > 1 {
		return argv[1]
	}
	return ""
}

// lastLine is ": " and the last non-empty line of b, or "".
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}

// lineWriter calls fn for every complete line written to it. The exec
// package writes a child's stdout from one goroutine, so it needs no lock.
type lineWriter struct {
	fn  func([]byte, time.Time)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(w.buf[:i], now)
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// jsonLines decodes every line of b that is a JSON object into a generic
// map; other lines are skipped.
func jsonLines(b []byte) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// num is m[k] as a float64 (0 if missing).
func num(m map[string]any, k string) float64 {
	v, _ := m[k].(float64)
	return v
}

// loadAvg is the 1-minute load average (uptime), or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}
