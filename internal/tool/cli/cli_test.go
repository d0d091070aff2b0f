package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pwstore/coord"
)

func TestLine(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6,000 bytes, two per rune
	for _, c := range []struct {
		err  error
		want string
	}{
		{errors.New("a\nb"), "a; b"},
		{Usagef("want 1 argument, got 0"), "want 1 argument, got 0 (see pwriter run -h)"},
		{fmt.Errorf("run: %w: max lag 2", coord.ErrConfig), "run: invalid configuration: max lag 2"},
		{Usagef("unknown command %q", strings.Repeat("x", 100)), `unknown command "` + strings.Repeat("x", 63) + `... (102 bytes) (see pwriter run -h)`},
	} {
		if got := Line("pwriter run", c.err); got != c.want {
			t.Errorf("Line(%q) = %q, want %q", c.err, got, c.want)
		}
	}
	got := Line("p", errors.New(long))
	if len(got) > MaxLine+30 || !strings.HasSuffix(got, "... (6000 bytes)") || strings.ToValidUTF8(got, "?") != got {
		t.Errorf("Line of 6,000 bytes: %d bytes, ends %q", len(got), got[len(got)-30:])
	}
}

func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("x"), ExitFail},
		{Usagef("x"), ExitUsage},
		{Badf("x"), ExitUsage},
		{fmt.Errorf("open: %w", coord.ErrConfig), ExitUsage},
		{&CodeError{Code: 130, Err: errors.New("x")}, 130},
	} {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestPositive(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true}, // defaults are not checked
		{[]string{"-n", "3", "-d", "1ms", "-u", "1"}, true},
		{[]string{"-n", "0"}, false},
		{[]string{"-n", "-2"}, false},
		{[]string{"-d", "0s"}, false},
		{[]string{"-u", "0"}, false},
		{[]string{"-m", "0"}, true}, // not named
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.Int("n", 0, "")
		fs.Int("m", 0, "")
		fs.Duration("d", time.Second, "")
		fs.Uint64("u", 5, "")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if err := Positive(fs, "n", "d", "u"); (err == nil) != c.ok {
			t.Errorf("%v: %v", c.args, err)
		}
	}
}

func TestNotAnInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "f.pw")
	if err := os.WriteFile(data, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(data, filepath.Join(dir, "sym"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, c := range []struct {
		out string
		ok  bool
	}{
		{data, false},
		{dir + "/./f.pw", false},
		{filepath.Join(dir, "sym"), false},
		{filepath.Join(dir, "sub", "..", "f.pw.md"), false}, // absent metadata file, another spelling
		{filepath.Join(dir, "sub"), false},                  // a directory
		{filepath.Join(dir, "out.npy"), true},
		{filepath.Join(dir, "sub", "f.pw"), true},
	} {
		if err := NotAnInput(c.out, data, data+".md"); (err == nil) != c.ok {
			t.Errorf("NotAnInput(%s): %v", c.out, err)
		}
	}
}

func TestNoFileLock(t *testing.T) {
	for v, want := range map[string]bool{"": false, "TRUE": false, "1": false, "false": true, "FALSE": true, "0": true} {
		got, err := NoFileLock(func(string) string { return v })
		if err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", EnvFileLocking, v, got, err, want)
		}
	}
	if _, err := NoFileLock(func(string) string { return "no" }); err == nil || !strings.Contains(err.Error(), EnvFileLocking) {
		t.Errorf("a bad value: %v, want an error naming %s", err, EnvFileLocking)
	}
}
