// Package ctest is what the tests of the C interface share: install
// libpwstore with scripts/install-lib into a temporary prefix (once per test
// process), compile C and Fortran programs against the installed header,
// module and pkg-config files, build the Go commands, run programs under
// mpirun.
package ctest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Root is the module's root directory.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

var install struct {
	once   sync.Once
	prefix string
	err    error
}

// Prefix installs the library once per test process and returns its prefix.
// The prefix lives in a directory that outlives the test that made it; the
// caller's TestMain removes it with Cleanup.
func Prefix(t testing.TB) string {
	t.Helper()
	Need(t, "gcc", "pkg-config")
	install.once.Do(func() {
		dir, err := os.MkdirTemp("", "pwstore-capi-")
		if err != nil {
			install.err = err
			return
		}
		install.prefix = dir
		cmd := exec.Command(filepath.Join(Root(t), "scripts", "install-lib"), dir)
		cmd.Env = append(os.Environ(), "GOFLAGS=") // the library is not race-built
		if out, err := cmd.CombinedOutput(); err != nil {
			install.err = fmt.Errorf("install-lib: %v\n%s", err, out)
		}
	})
	if install.err != nil {
		t.Fatal(install.err)
	}
	return install.prefix
}

// Need skips the test when a tool is missing.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: skipping (install it to run this test)", tool)
		}
	}
}

// PkgConfig returns the flags of `pkg-config args...` for the installed
// library.
func PkgConfig(t testing.TB, args ...string) []string {
	t.Helper()
	cmd := exec.Command("pkg-config", args...)
	cmd.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(Prefix(t), "lib", "pkgconfig"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pkg-config %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// Compile compiles sources with compiler (gcc, mpicc, gfortran) into out,
// with the flags of the pkg-config package pkg and extra flags.
func Compile(t testing.TB, compiler, pkg, out string, sources []string, extra ...string) string {
	t.Helper()
	Need(t, compiler)
	args := append([]string{"-O2", "-Wall", "-o", out}, sources...)
	args = append(args, PkgConfig(t, "--cflags", "--libs", pkg)...)
	args = append(args, extra...)
	cmd := exec.Command(compiler, args...)
	cmd.Dir = filepath.Dir(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", compiler, args, err, b)
	}
	return out
}

var commands struct {
	once sync.Once
	dir  string
	err  error
}

// Command builds the module's commands (pwriter, preader) once and returns
// the path of one.
func Command(t testing.TB, name string) string {
	t.Helper()
	commands.once.Do(func() {
		commands.dir, commands.err = os.MkdirTemp("", "pwstore-cmds-")
		if commands.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", commands.dir, "./cmd/pwriter", "./cmd/preader")
		cmd.Dir = Root(t)
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			commands.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if commands.err != nil {
		t.Fatal(commands.err)
	}
	return filepath.Join(commands.dir, name)
}

// Cleanup removes the installed prefix and the built commands (from
// TestMain, after the tests).
func Cleanup() {
	if install.prefix != "" {
		os.RemoveAll(install.prefix)
	}
	if commands.dir != "" {
		os.RemoveAll(commands.dir)
	}
}

// MPIRun returns the command `mpirun -np n prog args...`, allowed to run as
// root and with more ranks than cores; its environment is this process's
// plus env.
func MPIRun(t testing.TB, n int, env []string, prog string, args ...string) *exec.Cmd {
	t.Helper()
	Need(t, "mpirun")
	all := append([]string{"--oversubscribe", "-np", fmt.Sprint(n)}, env2x(env)...)
	all = append(all, prog)
	cmd := exec.Command("mpirun", append(all, args...)...)
	cmd.Env = append(os.Environ(), "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
		"OMPI_MCA_rmaps_base_oversubscribe=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// env2x passes each variable to the ranks explicitly (-x NAME).
func env2x(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		out = append(out, "-x", name)
	}
	return out
}

// NPY returns the data bytes of a .npy file written by `preader export`.
func NPY(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hl int
	switch b[6] {
	case 1:
		hl = 10 + int(binary.LittleEndian.Uint16(b[8:10]))
	default:
		hl = 12 + int(binary.LittleEndian.Uint32(b[8:12]))
	}
	if hl > len(b) {
		t.Fatalf("%s: header beyond the file", path)
	}
	return b[hl:]
}

// Run runs cmd and fails the test with its output if it fails.
func Run(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}
