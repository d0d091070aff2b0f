package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// group is a command started in a process group of its own, so that a
// kill reaches it and every process it started (the local launcher's
// ranks), with its stdout split into JSON lines as they arrive.
type group struct {
	cmd    *exec.Cmd
	lines  *lineSink
	stderr bytes.Buffer
}

// startGroup starts argv in a new process group. onLine sees every JSON
// object line of its stdout, in order, as it arrives.
func startGroup(argv []string, onLine func(map[string]any)) (*group, error) {
	g := &group{lines: &lineSink{on: onLine}}
	g.cmd = exec.Command(argv[0], argv[1:]...)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.Stdout = g.lines
	g.cmd.Stderr = &g.stderr
	// The ranks do not hold our pipes, but never hang on a stray holder.
	g.cmd.WaitDelay = 5 * time.Second
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	return g, nil
}

// kill sends SIGKILL to the whole group: the command and its children.
func (g *group) kill() {
	// The group id is the leader's pid (Setpgid with Pgid 0). ESRCH: every
	// member has already exited.
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
}

// wait waits for the command and returns its exit error (nil for status 0).
func (g *group) wait() error {
	err := g.cmd.Wait()
	g.lines.flush()
	return err
}

// lineSink is a command's stdout: it hands each complete line that parses
// as a JSON object to on, and drops other lines.
type lineSink struct {
	mu      sync.Mutex // guards partial and calls to on: exec's copier writes, wait flushes
	partial []byte
	on      func(map[string]any)
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		s.emit(s.partial[:i])
		s.partial = s.partial[i+1:]
	}
}

func (s *lineSink) emit(line []byte) {
	var m map[string]any
	if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &m) == nil {
		s.on(m)
	}
}

// flush drops an unfinished last line: a line cut by the kill was never
// printed in full, so it reports nothing.
func (s *lineSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = nil
}

// runJSON runs argv to completion (bounded by timeout) and returns its last
// JSON line, its stderr and its exit error.
func runJSON(argv []string, timeout time.Duration) (map[string]any, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var last map[string]any
	sink := &lineSink{on: func(m map[string]any) { last = m }}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = sink, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: no answer within %v: %w", strings.Join(argv, " "), timeout, ctx.Err())
	}
	return last, strings.TrimSpace(stderr.String()), err
}

// num reads a JSON number field (0 when absent).
func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
}
