package coord_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoAPIExample builds and runs examples/goapi, a program in a module
// of its own that uses only pwstore/coord and pwstore/collective: it
// proves that the public API is complete without the internal packages
// (writing, following, recovering a file; ErrCorrupt; ErrExists on every
// rank of a two-rank job).
func TestGoAPIExample(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the example module")
	}
	dir := filepath.Join("..", "examples", "goapi")
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS="+os.Getenv("GOFLAGS")+" -mod=readonly -buildvcs=false")
	list := exec.Command(gobin, "list", "-f", `{{join .Imports "\n"}}`, ".")
	list.Dir = dir
	list.Env = env
	imports, err := list.Output()
	if err != nil {
		t.Fatalf("go list examples/goapi: %v", err)
	}
	for _, imp := range strings.Fields(string(imports)) {
		if strings.HasPrefix(imp, "pwstore/") && imp != "pwstore/coord" && imp != "pwstore/collective" {
			t.Errorf("examples/goapi imports %s: the public API must suffice", imp)
		}
	}
	bin := filepath.Join(t.TempDir(), "goapi")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/goapi: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("examples/goapi: %v\n%s", err, out)
	}
	for _, check := range []string{"write and follow", "recover", "ErrCorrupt", "ErrExists on every rank"} {
		if !strings.Contains(string(out), "ok "+check+"\n") {
			t.Errorf("examples/goapi did not report %q:\n%s", check, out)
		}
	}
}
