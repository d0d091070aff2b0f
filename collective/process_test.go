package collective

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// Rank processes: the test binary re-executed with roleVar set runs one rank
// of a job (its place from the PW_* variables, as under the launcher).
const (
	roleVar    = "PW_COLLECTIVE_TEST_ROLE"
	timeoutVar = "PW_COLLECTIVE_TEST_TIMEOUT"
	bigVar     = "PW_COLLECTIVE_TEST_BIG"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleVar); role != "" {
		os.Exit(rankMain(role))
	}
	os.Exit(m.Run())
}

func rankMain(role string) int {
	env, err := FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := env.Config()
	cfg.JoinTimeout = 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv(timeoutVar)); err == nil {
		cfg.Timeout = d
	}
	ctx := context.Background()
	c, err := Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: open: %v\n", env.Rank, err)
		return 1
	}
	defer c.Close()
	switch role {
	case "suite":
		big, _ := strconv.Atoi(os.Getenv(bigVar))
		err = exercise(ctx, c, big)
	case "job":
		err = jobRounds(ctx, c, env.Job)
	case "loop":
		fmt.Println("joined")
		for i := 0; err == nil; i++ {
			if err = c.Barrier(ctx); err == nil {
				_, err = c.Bcast(ctx, i%c.Size(), make([]byte, 1000))
			}
		}
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: %v\n", env.Rank, err)
		return 1
	}
	return 0
}

// jobRounds exchanges data naming the job: data of another job would show.
func jobRounds(ctx context.Context, c Comm, job string) error {
	for round := range 30 {
		mine := []byte(fmt.Sprintf("%s/%d/%d", job, c.Rank(), round))
		all, err := c.Allgather(ctx, mine)
		if err != nil {
			return err
		}
		for r, got := range all {
			if want := fmt.Sprintf("%s/%d/%d", job, r, round); string(got) != want {
				return fmt.Errorf("round %d: got %q from rank %d, want %q", round, got, r, want)
			}
		}
		root := round % c.Size()
		got, err := c.Bcast(ctx, root, []byte(fmt.Sprintf("%s/bcast/%d", job, round)))
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("%s/bcast/%d", job, round); string(got) != want {
			return fmt.Errorf("round %d: bcast got %q, want %q", round, got, want)
		}
	}
	return nil
}

// rankProc is one started rank process.
type rankProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when Wait returned
	err            error         // Wait's result, once done
}

// syncBuffer is a bytes.Buffer safe for the exec copier and the test.
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

// startRanks starts n rank processes of job with role; t's cleanup kills
// what is left.
func startRanks(t *testing.T, n int, role, job, url string, extra ...string) []*rankProc {
	t.Helper()
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PW_") && !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "OMPI_") {
			base = append(base, kv)
		}
	}
	procs := make([]*rankProc, n)
	for r := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(base, roleVar+"="+role, EnvRank+"="+strconv.Itoa(r), EnvSize+"="+strconv.Itoa(n),
			EnvJob+"="+job, EnvURL+"="+url)
		cmd.Env = append(cmd.Env, extra...)
		p := &rankProc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = cmd.Wait(); close(p.done) }()
		procs[r] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil {
				_ = p.cmd.Process.Kill() // fails once it has exited
				<-p.done
			}
		}
	})
	return procs
}

// waitRanks waits for every process, failing the test after within.
func waitRanks(t *testing.T, procs []*rankProc, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for r, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			t.Fatalf("rank %d still running after %v; stderr: %s", r, within, p.stderr)
		}
	}
}

func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts rank processes")
	}
	s := startServer(t, natsd.Options{})
	for _, n := range []int{1, 2, 4, 8} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			// 3 MiB: four messages at the server's 1 MiB max payload.
			procs := startRanks(t, n, "suite", "procs-"+strconv.Itoa(n), s.URL(), bigVar+"=3145728")
			waitRanks(t, procs, 3*time.Minute)
			for r, p := range procs {
				if p.err != nil {
					t.Errorf("rank %d: %v; stderr: %s", r, p.err, p.stderr)
				}
			}
		})
	}
}

// TestTwoJobs runs two jobs with the same communicator name on one server
// at once: each rank checks that all it receives is of its own job.
func TestTwoJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts rank processes")
	}
	s := startServer(t, natsd.Options{})
	a := startRanks(t, 3, "job", "jobA", s.URL())
	b := startRanks(t, 3, "job", "jobB", s.URL())
	all := append(a, b...)
	waitRanks(t, all, 2*time.Minute)
	for i, p := range all {
		if p.err != nil {
			t.Errorf("process %d: %v; stderr: %s", i, p.err, p.stderr)
		}
	}
}

// TestKilledRank: SIGKILL one rank in the middle of a run; every other rank
// must exit non-zero within the timeout, saying why.
func TestKilledRank(t *testing.T) {
	if testing.Short() {
		t.Skip("starts rank processes")
	}
	s := startServer(t, natsd.Options{})
	const timeout = 2 * time.Second
	procs := startRanks(t, 4, "loop", "killed", s.URL(), timeoutVar+"="+timeout.String())
	for r, p := range procs {
		for !strings.Contains(p.stdout.String(), "joined") {
			select {
			case <-p.done:
				t.Fatalf("rank %d exited before joining: %v; stderr: %s", r, p.err, p.stderr)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // some collectives in flight
	if err := procs[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Generous bound (race detector, loaded machine): the point is that
	// they end, not how fast.
	waitRanks(t, procs, 10*timeout+10*time.Second)
	named := false
	for r, p := range procs {
		if r == 2 {
			continue
		}
		if p.err == nil {
			t.Errorf("rank %d exited 0 after rank 2 was killed", r)
			continue
		}
		msg := p.stderr.String()
		if !strings.Contains(msg, "did not answer") && !strings.Contains(msg, "aborted") {
			t.Errorf("rank %d: unclear message %q", r, msg)
		}
		if strings.Contains(msg, "rank 2 did not answer") {
			named = true
		}
	}
	if !named {
		for r, p := range procs {
			t.Logf("rank %d: %s", r, p.stderr)
		}
		t.Error("no rank named rank 2 as the one that did not answer")
	}
}
