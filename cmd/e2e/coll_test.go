package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsServer is a running `pwriter nats`.
type natsServer struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
}

// lockedBuffer is a buffer a running process writes while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startNATS starts `pwriter nats args...` with env added, and waits for the
// URL it prints.
func startNATS(t *testing.T, env []string, args ...string) *natsServer {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "pwriter"), append([]string{"nats", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &natsServer{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may be gone already
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("pwriter nats printed no URL: %v; stderr: %s", err, s.stderr)
	}
	s.url = strings.TrimSpace(line)
	return s
}

// rankProc is one rank of a job started by hand, as srun would.
type rankProc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startRank(t *testing.T, rank, size int, job, url string, args ...string) *rankProc {
	t.Helper()
	p := &rankProc{cmd: exec.Command(filepath.Join(bin, "pwriter"), args...)}
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("PW_RANK=%d", rank), fmt.Sprintf("PW_SIZE=%d", size),
		"PW_JOB="+job, "PW_NATS_URL="+url)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait returns the exit code, killing the rank if it outlives within.
func (p *rankProc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	timer := time.AfterFunc(within, func() { _ = p.cmd.Process.Kill() })
	defer timer.Stop()
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ee.ExitCode() < 0 {
			t.Fatalf("rank killed after %v: %v\nstderr: %s", within, err, &p.stderr)
		}
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestSameJobIDTwoJobs (issue 12, item 5): two 2-rank writer jobs with the
// same PW_JOB on one `pwriter nats`, their ranks started in a random order:
// no rank ever goes on with a rank of the other job. Every rank fails: those
// that hear a rank claimed twice (or a partner of the other job) say so; a
// rank whose partners already failed that way and exited can only time out
// waiting for them. In every round at least one rank says why.
func TestSameJobIDTwoJobs(t *testing.T) {
	srv := startNATS(t, nil)
	dir := t.TempDir()
	rounds := 8
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		type proc struct {
			name string
			p    *rankProc
		}
		var procs []proc
		order := rand.Perm(4)
		for _, i := range order {
			job, rank := "ab"[i/2:i/2+1], i%2
			path := filepath.Join(dir, fmt.Sprintf("%d-%s.pw", round, job))
			time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
			procs = append(procs, proc{fmt.Sprintf("job %s rank %d", job, rank),
				startRank(t, rank, 2, "same", srv.url, "run", "--steps", "40", "--side", "8", "--tick", "20ms",
					"--step-delay", "50ms", "--coll-timeout", "20s", "--join-timeout", "6s", path)})
		}
		told := 0
		for _, pr := range procs {
			code := pr.p.wait(t, 90*time.Second)
			msg := pr.p.stderr.String()
			switch {
			case code == 0:
				t.Errorf("round %d: %s exited 0 beside a job with its job id (order %v)\nstdout: %s", round, pr.name, order, &pr.p.stdout)
			case code != 1 && code != 2: // 2: the ranks' configurations differ
				t.Errorf("round %d: %s: exit %d, want 1 or 2: %s", round, pr.name, code, msg)
			case strings.Contains(msg, "two processes claim rank") || strings.Contains(msg, "two jobs running with one job id"):
				told++
			case !strings.Contains(msg, "did not join job") && !strings.Contains(msg, "did not welcome rank") &&
				!strings.Contains(msg, "did not answer"): // a partner that failed and left
				t.Errorf("round %d: %s: exit %d without the reason: %s", round, pr.name, code, msg)
			}
		}
		if told == 0 {
			t.Errorf("round %d (order %v): no rank said why", round, order)
		}
	}
}

// TestMixedPairRefused (issue 12, item 5): rank 0 of one job and rank 1 of
// another with one job id, alone on the server, form a communicator; the
// writer's start check stops both before any file is created.
func TestMixedPairRefused(t *testing.T) {
	srv := startNATS(t, nil)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pw"), filepath.Join(dir, "b.pw")
	p0 := startRank(t, 0, 2, "mixed", srv.url, "run", "--steps", "5", "--side", "8", a)
	p1 := startRank(t, 1, 2, "mixed", srv.url, "run", "--steps", "5", "--side", "8", b)
	for r, p := range []*rankProc{p0, p1} {
		code := p.wait(t, 60*time.Second)
		want := `rank 1 was started with create "` + b + `", rank 0 with create "` + a + `": are two jobs running with one job id?`
		// A configuration error: exit 2.
		if code != 2 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("rank %d: exit %d, stderr %q; want exit 2 and %q", r, code, p.stderr.String(), want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files created by a mixed pair: %v", ents)
	}
}

// TestNATSLoss (issue 12, item 9): the server killed under a running
// 2-rank writer: each rank says it lost the server, naming it without the
// token in its URL, at once rather than after its collective timeout; the
// file recovers and verifies.
func TestNATSLoss(t *testing.T) {
	const token = "s3cr3t-tok"
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startNATS(t, nil, "--token-file", tokFile)
	url := strings.Replace(srv.url, "nats://", "nats://"+token+"@", 1)
	path := filepath.Join(t.TempDir(), "lost.pw")
	var ranks []*rankProc
	for r := range 2 {
		ranks = append(ranks, startRank(t, r, 2, "lost", url, "run", "--steps", "100000", "--side", "8",
			"--step-delay", "5ms", "--coll-timeout", "2m", path))
	}
	// Let the writer get going: its metadata file appears at its first tick.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path + ".md"); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the writer did not start; rank 0: %s", &ranks[0].stderr)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for r, p := range ranks {
		// Well within the 2-minute collective timeout.
		code := p.wait(t, time.Minute)
		msg := p.stderr.String()
		if code != 1 || !strings.Contains(msg, "lost connection to the NATS server at nats://") {
			t.Errorf("rank %d: exit %d, stderr %q: want the lost server named", r, code, msg)
		}
		if strings.Contains(msg+p.stdout.String(), token) {
			t.Errorf("rank %d printed the token: %s", r, msg)
		}
	}
	if res := run(t, "pwriter", "recover", "--force", path); res.code != 0 {
		t.Fatalf("recover: exit %d: %s", res.code, res.stderr)
	}
	if res := run(t, "preader", "verify", path); res.code != 0 {
		t.Fatalf("verify after recover: exit %d: %s", res.code, res.stderr)
	}
}

// TestNATSCredentials (issue 12, item 10): `pwriter nats` takes its token
// or password from a file or the environment, never prints them, and
// refuses a secret given twice; the ranks take theirs from a file too.
func TestNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	secretFile := func(name, v string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name       string
		env, args  []string
		user, pass string
	}{
		{"token file", nil, []string{"--token-file", secretFile("tok", "file-token-1")}, "", "file-token-1"},
		{"token env", []string{"PW_NATS_TOKEN=env-token-2"}, nil, "", "env-token-2"},
		{"password file", nil, []string{"--user", "pw", "--pass-file", secretFile("pass", "file-pass-3")}, "pw", "file-pass-3"},
		{"password env", []string{"PW_NATS_PASSWORD=env-pass-4"}, []string{"--user", "pw"}, "pw", "env-pass-4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNATS(t, tc.env, tc.args...)
			if _, err := nats.Connect(srv.url); err == nil {
				t.Fatal("connected without credentials")
			}
			opt := nats.Token(tc.pass)
			if tc.user != "" {
				opt = nats.UserInfo(tc.user, tc.pass)
			}
			nc, err := nats.Connect(srv.url, opt)
			if err != nil {
				t.Fatalf("with the credentials: %v", err)
			}
			nc.Close()
			_ = srv.cmd.Process.Signal(os.Interrupt)
			_ = srv.cmd.Wait()
			if strings.Contains(srv.url+srv.stderr.String(), tc.pass) {
				t.Errorf("the secret was printed: %s %s", srv.url, srv.stderr)
			}
			if strings.Contains(srv.stderr.String(), "warning") {
				t.Errorf("a loopback server with credentials warned: %s", srv.stderr)
			}
		})
	}
	t.Run("rank token file", func(t *testing.T) {
		tok := secretFile("rank-tok", "rank-token-5")
		srv := startNATS(t, nil, "--token-file", tok)
		path := filepath.Join(dir, "rank.pw")
		var ranks []*rankProc
		for r := range 2 {
			ranks = append(ranks, startRank(t, r, 2, "tokfile", srv.url, "run", "--steps", "5", "--side", "8", "--nats-token-file", tok, path))
		}
		for r, p := range ranks {
			if code := p.wait(t, time.Minute); code != 0 {
				t.Errorf("rank %d: exit %d: %s", r, code, &p.stderr)
			}
		}
	})
	t.Run("twice", func(t *testing.T) {
		res := run(t, "pwriter", "nats", "--listen", "127.0.0.1:0", "--token", "x", "--token-file", secretFile("t2", "y"))
		if res.code != 2 || !strings.Contains(res.stderr, "give the token once") {
			t.Errorf("exit %d, %q: want exit 2 and the token refused", res.code, res.stderr)
		}
	})
}

// TestNATSWrongTokenRedacted: a rank given a wrong token in its URL fails
// with an error that does not show the token.
func TestNATSWrongTokenRedacted(t *testing.T) {
	srv := startNATS(t, []string{"PW_NATS_TOKEN=right"})
	url := strings.Replace(srv.url, "nats://", "nats://wrong-tok-6@", 1)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			p := startRank(t, r, 2, "wrongtok", "", "run", "--steps", "5", "--nats", url, "--join-timeout", "5s", filepath.Join(t.TempDir(), "w.pw"))
			code := p.wait(t, time.Minute)
			if code != 1 || strings.Contains(p.stderr.String(), "wrong-tok-6") || !strings.Contains(p.stderr.String(), "REDACTED@127.0.0.1") {
				t.Errorf("rank %d: exit %d, %q: want a failure naming the server without the token", r, code, p.stderr.String())
			}
		})
	}
	wg.Wait()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNATSClusterCommand (issue 16, item 4): two `pwriter nats` joined by
// --cluster/--routes, as on two nodes; a 2-rank writer with one rank on
// each writes a file that verifies.
func TestNATSClusterCommand(t *testing.T) {
	ca, cb := freePort(t), freePort(t)
	route := fmt.Sprintf("nats://127.0.0.1:%d", ca)
	a := startNATS(t, nil, "--cluster", fmt.Sprintf("127.0.0.1:%d", ca), "--routes", route)
	b := startNATS(t, nil, "--cluster", fmt.Sprintf("127.0.0.1:%d", cb), "--routes", route)
	if strings.Contains(a.stderr.String()+b.stderr.String(), "warning") {
		t.Errorf("loopback cluster warned: %s %s", a.stderr, b.stderr)
	}
	path := filepath.Join(t.TempDir(), "cluster.pw")
	ranks := []*rankProc{
		startRank(t, 0, 2, "cl", a.url, "run", "--steps", "10", "--side", "8", "--join-timeout", "30s", path),
		startRank(t, 1, 2, "cl", b.url, "run", "--steps", "10", "--side", "8", "--join-timeout", "30s", path),
	}
	for r, p := range ranks {
		if code := p.wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("rank %d on its own server: exit %d: %s", r, code, &p.stderr)
		}
	}
	if res := run(t, "preader", "verify", path); res.code != 0 {
		t.Fatalf("verify: exit %d: %s", res.code, res.stderr)
	}
}
