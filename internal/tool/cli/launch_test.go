package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pwstore/collective"
)

// roleArg, as a rank's first argument, makes this test binary a rank of
// a launched group (TestMain) instead of running the tests.
const roleArg = "-pw-launch-role="

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && strings.HasPrefix(os.Args[1], roleArg) {
		os.Exit(rankMain(strings.TrimPrefix(os.Args[1], roleArg), os.Args[2]))
	}
	os.Exit(m.Run())
}

// rankMain plays a launched rank: "ready" says it is ready after a pause
// and records when; "second" records when it started; "broken" fails
// before it is ready.
func rankMain(role, dir string) int {
	env, err := collective.FromEnv(os.Getenv)
	if err != nil {
		return 2
	}
	stamp := func(name string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
	}
	switch role {
	case "ready":
		time.Sleep(300 * time.Millisecond)
		if stamp("ready") != nil || Ready(env) != nil {
			return 1
		}
		time.Sleep(100 * time.Millisecond) // still running when the next group starts
		return 0
	case "second":
		if stamp("second") != nil {
			return 1
		}
		return 0
	case "broken":
		return 3
	}
	return 2
}

// stamped reads the time a rank recorded, if it did.
func stamped(t *testing.T, dir, name string) (time.Time, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, ns), true
}

// TestLaunchWaitsForReady: the group after a Ready one starts only once it
// is ready (pwriter run --watch: the readers, then the writer), and not at
// all if the Ready group fails first.
func TestLaunchWaitsForReady(t *testing.T) {
	dir := t.TempDir()
	err := Launch([]Group{
		{Label: "reader", N: 1, Args: []string{roleArg + "ready", dir}, Ready: true},
		{Label: "writer", N: 1, Args: []string{roleArg + "second", dir}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ready, ok1 := stamped(t, dir, "ready")
	second, ok2 := stamped(t, dir, "second")
	if !ok1 || !ok2 {
		t.Fatalf("a group did not run (ready %v, second %v)", ok1, ok2)
	}
	if second.Before(ready) {
		t.Fatalf("the second group started %v before the first was ready", ready.Sub(second))
	}

	dir = t.TempDir()
	err = Launch([]Group{
		{Label: "reader", N: 1, Args: []string{roleArg + "broken", dir}, Ready: true},
		{Label: "writer", N: 1, Args: []string{roleArg + "second", dir}},
	})
	if err == nil || !strings.Contains(err.Error(), "reader job") {
		t.Fatalf("launch: %v, want the reader job's failure", err)
	}
	if _, ok := stamped(t, dir, "second"); ok {
		t.Fatal("the second group started though the first failed before it was ready")
	}
}
