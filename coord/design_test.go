package coord_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDesignCitations: every "DESIGN section N" (or "DESIGN §N") in the
// repository names a section of docs/DESIGN.md, and no file cites the
// reference texts by the numbers of a folder outside the repository.
func TestDesignCitations(t *testing.T) {
	root := ".."
	design, err := os.ReadFile(filepath.Join(root, "docs", "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\d+)\. `).FindAllStringSubmatch(string(design), -1) {
		sections[m[1]] = true
	}
	cite := regexp.MustCompile(`DESIGN(?:\.md)? (?:section |§ ?)(\d+)`)
	foreign := regexp.MustCompile(`reference 00\d`)
	n := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".py", ".sh", ".c", ".h", ".f90", ".txt":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range cite.FindAllStringSubmatch(string(b), -1) {
			n++
			if !sections[m[1]] {
				t.Errorf("%s cites %q: docs/DESIGN.md has no section %s", path, m[0], m[1])
			}
		}
		if m := foreign.FindString(string(b)); m != "" && !strings.HasSuffix(path, "design_test.go") {
			t.Errorf("%s cites %q: cite the text by its title", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no citation found: the pattern is wrong")
	}
}
