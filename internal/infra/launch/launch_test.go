package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pwstore/collective"
)

// The rank processes are this test binary, re-executed with roleVar set.
const roleVar = "PW_LAUNCH_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleVar); role != "" {
		os.Exit(rankMain(role))
	}
	os.Exit(m.Run())
}

func rankMain(role string) int {
	env, err := collective.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := env.Rank
	switch role {
	case "print":
		fmt.Printf("hello from %d of %d in %s\n", r, env.Size, env.Job)
		fmt.Fprintf(os.Stderr, "warning %d\n", r)
		fmt.Printf("{\"rank\":%d}\n", r)
		fmt.Printf("no newline %d", r)
		return 0
	case "fail":
		if r == 1 {
			fmt.Fprintln(os.Stderr, "giving up")
			return 3
		}
		time.Sleep(time.Minute)
		return 0
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		if r == 0 {
			time.Sleep(200 * time.Millisecond)
			os.Exit(4)
		}
		time.Sleep(time.Minute)
		return 0
	case "sleep":
		fmt.Println("ready", os.Getpid())
		time.Sleep(time.Minute)
		return 0
	case "launcher":
		// A launcher of two sleeping ranks, for the test to kill.
		o := options(2, "sleep", nil, nil)
		o.Stdout, o.Stderr = os.Stdout, os.Stderr
		if err := Run(context.Background(), o); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "comm":
		c, err := collective.Open(context.Background(), env.Config())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		sum, err := c.AllreduceInt64(context.Background(), collective.Sum, []int64{int64(r + 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if r == 0 {
			fmt.Printf("{\"sum\":%d,\"size\":%d}\n", sum[0], c.Size())
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

// syncBuffer is a bytes.Buffer safe for the launcher's writers and the test.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func options(np int, role string, stdout, stderr *syncBuffer) Options {
	return Options{
		NP:     np,
		Argv:   []string{os.Args[0], "-test.run=^$"},
		Env:    append(os.Environ(), roleVar+"="+role),
		Stdout: stdout,
		Stderr: stderr,
		Job:    "launchtest",
		Grace:  500 * time.Millisecond,
	}
}

func lines(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		m[l] = true
	}
	return m
}

// TestOneWriterForBoth: stdout and stderr may be one plain writer, as with
// os/exec; the launcher then serialises both streams on it.
func TestOneWriterForBoth(t *testing.T) {
	var both bytes.Buffer
	o := options(3, "print", nil, nil)
	o.Stdout, o.Stderr = &both, &both
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := lines(both.String())
	for r := range 3 {
		for _, want := range []string{
			fmt.Sprintf("[rank %d] hello from %d of 3 in launchtest", r, r),
			fmt.Sprintf("[rank %d] warning %d", r, r),
		} {
			if !got[want] {
				t.Errorf("output lacks %q:\n%s", want, both.String())
			}
		}
	}
}

func TestOutput(t *testing.T) {
	var out, errs syncBuffer
	if err := Run(context.Background(), options(3, "print", &out, &errs)); err != nil {
		t.Fatal(err)
	}
	o, e := lines(out.String()), lines(errs.String())
	for r := range 3 {
		for _, want := range []string{
			fmt.Sprintf("[rank %d] hello from %d of 3 in launchtest", r, r),
			fmt.Sprintf("[rank %d] no newline %d", r, r),
		} {
			if !o[want] {
				t.Errorf("stdout lacks %q:\n%s", want, out.String())
			}
		}
		if want := fmt.Sprintf("[rank %d] warning %d", r, r); !e[want] {
			t.Errorf("stderr lacks %q:\n%s", want, errs.String())
		}
	}
	// JSON passes unchanged from rank 0 only.
	if !o[`{"rank":0}`] || o[`[rank 0] {"rank":0}`] {
		t.Errorf("rank 0's JSON line is not passed through:\n%s", out.String())
	}
	if !o[`[rank 1] {"rank":1}`] || o[`{"rank":1}`] {
		t.Errorf("rank 1's JSON line is not prefixed:\n%s", out.String())
	}
}

func TestCollectiveJob(t *testing.T) {
	var out, errs syncBuffer
	if err := Run(context.Background(), options(4, "comm", &out, &errs)); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, errs.String())
	}
	if !lines(out.String())[`{"sum":10,"size":4}`] {
		t.Fatalf("no allreduce result from rank 0:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
}

func TestSingleRankNeedsNoServer(t *testing.T) {
	var out, errs syncBuffer
	if err := Run(context.Background(), options(1, "comm", &out, &errs)); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, errs.String())
	}
	if !lines(out.String())[`{"sum":1,"size":1}`] {
		t.Fatalf("no result:\n%s", out.String())
	}
}

func TestFailingRankStopsJob(t *testing.T) {
	var out, errs syncBuffer
	before := runtime.NumGoroutine()
	err := Run(context.Background(), options(4, "fail", &out, &errs))
	// Every goroutine Run started has ended (the server's may take a moment).
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Errorf("%d goroutines after Run, %d before", runtime.NumGoroutine(), before)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 1 || re.State.ExitCode() != 3 {
		t.Fatalf("got %v, want rank 1's exit status 3", err)
	}
	if err.Error() != "rank 1 exited with status 3" {
		t.Errorf("message %q", err)
	}
	if !strings.Contains(errs.String(), "[rank 1] giving up") {
		t.Errorf("stderr lacks rank 1's line:\n%s", errs.String())
	}
	// Run returns only once every rank has ended: the sleepers were
	// stopped (else it would have taken a minute and this test timed out).
}

func TestStubbornRanksAreKilled(t *testing.T) {
	var out, errs syncBuffer
	err := Run(context.Background(), options(3, "stubborn", &out, &errs))
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 0 || re.State.ExitCode() != 4 {
		t.Fatalf("got %v, want rank 0's exit status 4", err)
	}
}

func TestKilledRank(t *testing.T) {
	var out, errs syncBuffer
	res := make(chan error, 1)
	go func() { res <- Run(context.Background(), options(3, "sleep", &out, &errs)) }()
	// Each rank prints "ready PID"; kill rank 2 from outside.
	pid := 0
	for pid == 0 || strings.Count(out.String(), "ready") < 3 {
		time.Sleep(10 * time.Millisecond)
		for l := range lines(out.String()) {
			if _, err := fmt.Sscanf(l, "[rank 2] ready %d", &pid); err == nil {
				break
			}
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-res
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 2 || !strings.Contains(err.Error(), "killed by signal 9") {
		t.Fatalf("got %v, want rank 2 killed by signal 9", err)
	}
}

func TestCancel(t *testing.T) {
	var out, errs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- Run(ctx, options(2, "sleep", &out, &errs)) }()
	for strings.Count(out.String(), "ready") < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestBadOptions(t *testing.T) {
	if err := Run(context.Background(), Options{NP: 0, Argv: []string{"true"}}); err == nil {
		t.Error("0 ranks accepted")
	}
	if err := Run(context.Background(), Options{NP: 1}); err == nil {
		t.Error("no command accepted")
	}
	err := Run(context.Background(), Options{NP: 2, Argv: []string{"/nonexistent/pw-rank"}, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "start rank 0") {
		t.Errorf("missing command: %v", err)
	}
}

// TestRanksDieWithLauncher: SIGKILL to the launcher alone takes its ranks
// with it; no orphan goes on running.
func TestRanksDieWithLauncher(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleVar+"=launcher")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pids []int
	sc := bufio.NewScanner(out)
	for len(pids) < 2 && sc.Scan() {
		var rank, pid int
		if n, _ := fmt.Sscanf(sc.Text(), "[rank %d] ready %d", &rank, &pid); n == 2 {
			pids = append(pids, pid)
		}
	}
	if len(pids) < 2 {
		t.Fatalf("launcher started %d ranks", len(pids))
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("rank process %d still running after its launcher was killed", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
