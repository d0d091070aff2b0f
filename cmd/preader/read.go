package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"pwstore/coord"
	"pwstore/internal/tool/cli"
	"pwstore/internal/tool/job"
)

// parseOpen parses a subcommand's flags and n positional arguments, the
// first being the file, which it opens at its newest snapshot (or as the
// closed file it is). It adds the --md flag.
func parseOpen(fs *flag.FlagSet, args []string, n int) ([]string, *coord.Reader, error) {
	md := fs.String("md", "", "metadata file (default FILE.md)")
	pos, err := cli.Parse(fs, args, n, n)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return nil, nil, err
	}
	r, err := coord.OpenReader(pos[0], coord.Config{ManualTicks: true, MDPath: *md})
	return pos, r, err
}

// lsEntry is one dataset in ls --json.
type lsEntry struct {
	Path  string   `json:"path"`
	DType string   `json:"dtype"`
	Shape []uint64 `json:"shape"`
	Chunk []uint64 `json:"chunk"`
}

func lsCmd(args []string) error {
	fs := flag.NewFlagSet("preader ls", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, `print {"datasets":[{"path":...,"dtype":...,"shape":[...]}...]}`)
	_, r, err := parseOpen(fs, args, 1)
	if err != nil {
		return err
	}
	defer r.Close()
	infos, err := r.Datasets()
	if err != nil {
		return err
	}
	list := make([]lsEntry, len(infos))
	for i, in := range infos {
		list[i] = lsEntry{Path: in.Path, DType: in.Spec.Type.String(), Shape: in.Spec.Shape, Chunk: in.Spec.Chunk}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"datasets": list})
	}
	for _, e := range list {
		fmt.Printf("%-40s %-8s %v chunk %v\n", e.Path, e.DType, e.Shape, e.Chunk)
	}
	return nil
}

// dataset opens the named dataset and resolves the slice against its shape.
func dataset(r *coord.Reader, name, slice string) (*coord.View, coord.Spec, box, error) {
	v, err := r.Dataset(name)
	if errors.Is(err, coord.ErrNotFound) {
		return nil, coord.Spec{}, box{}, fmt.Errorf("no dataset %q (preader ls lists them)", name)
	}
	if err != nil {
		return nil, coord.Spec{}, box{}, err
	}
	spec, err := v.Spec()
	if err != nil {
		return nil, coord.Spec{}, box{}, err
	}
	b, err := parseSlice(slice, spec.Shape)
	if err != nil {
		return nil, coord.Spec{}, box{}, cli.Usagef("--slice %q: %v", slice, err)
	}
	return v, spec, b, nil
}

func catCmd(args []string) error {
	fs := flag.NewFlagSet("preader cat", flag.ContinueOnError)
	slice := fs.String("slice", "", "per dimension a, a:b or :, comma-separated (default everything)")
	asJSON := fs.Bool("json", false, `print {"shape":[...],"data":[...]} (data flattened, row-major)`)
	limit := fs.Uint64("limit", 1<<20, "refuse to print more elements than this (use export for more)")
	pos, r, err := parseOpen(fs, args, 2)
	if err != nil {
		return err
	}
	defer r.Close()
	v, spec, b, err := dataset(r, pos[1], *slice)
	if err != nil {
		return err
	}
	if n := b.elems(); n > *limit {
		return cli.Usagef("%s: the slice has %d elements, more than --limit %d; narrow --slice or use export", pos[1], n, *limit)
	}
	buf := make([]byte, b.elems()*uint64(spec.Type.Size()))
	if err := v.ReadSlab(b.start, b.count, buf); err != nil {
		return err
	}
	vals := formatAll(spec.Type, buf)
	if *asJSON {
		raw := make([]json.RawMessage, len(vals))
		for i, s := range vals {
			raw[i] = json.RawMessage(jsonValue(spec.Type, s))
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"shape": b.count, "data": raw})
	}
	// One line per innermost row.
	row := 1
	if len(b.count) > 0 {
		row = int(b.count[len(b.count)-1])
	}
	for i := 0; i < len(vals); i += max(row, 1) {
		fmt.Println(strings.Join(vals[i:min(i+max(row, 1), len(vals))], " "))
	}
	return nil
}

func verifyCmd(args []string) error {
	fs := flag.NewFlagSet("preader verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	md := fs.String("md", "", "metadata file (default FILE.md)")
	pos, err := cli.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return err
	}
	res, err := job.Verify(pos[0], coord.Config{MDPath: *md})
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
	} else if err == nil {
		fmt.Printf("%s: ok: %d datasets, %d steps, %d elements verified\n", pos[0], res.Datasets, res.Steps, res.Elements)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", pos[0], err)
	}
	return nil
}
