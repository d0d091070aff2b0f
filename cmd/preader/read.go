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

// input is a subcommand's file: its path and metadata file (--md).
type input struct {
	path, md string
}

// files are the paths the command reads.
func (in input) files() []string { return []string{in.path, cli.MDPath(in.path, in.md)} }

// parseInput parses a subcommand's flags and n positional arguments, the
// first being the file, and checks the file and its metadata file are
// regular files (or absent). It adds the --md flag.
func parseInput(fs *flag.FlagSet, args []string, n int) ([]string, input, error) {
	md := fs.String("md", "", "metadata file (default FILE.md)")
	pos, err := cli.Parse(fs, args, n, n)
	if err != nil {
		return nil, input{}, err
	}
	in := input{path: pos[0], md: *md}
	if err := cli.Input(in.path, false); err != nil {
		return nil, in, err
	}
	if err := cli.Input(cli.MDPath(in.path, in.md), true); err != nil {
		return nil, in, err
	}
	return pos, in, nil
}

// open opens the file at its newest snapshot (or as the closed file it is).
func (in input) open() (*coord.Reader, error) {
	r, err := coord.OpenReader(in.path, coord.Config{ManualTicks: true, MDPath: in.md})
	return r, cli.FileErr(in.path, err)
}

// lsEntry is one dataset in ls --json.
type lsEntry struct {
	Path  string   `json:"path"`
	DType string   `json:"dtype"`
	Shape []uint64 `json:"shape"`
	Chunk []uint64 `json:"chunk"`
}

func lsCmd(args []string) error {
	fs := cli.NewFlags("preader ls", "[flags] FILE", "List the datasets of FILE with type, shape and chunk shape.")
	asJSON := fs.Bool("json", false, `print {"datasets":[{"path":...,"dtype":...,"shape":[...]}...]}`)
	_, in, err := parseInput(fs, args, 1)
	if err != nil {
		return err
	}
	r, err := in.open()
	if err != nil {
		return err
	}
	defer r.Close()
	infos, err := r.Datasets()
	if err != nil {
		return cli.FileErr(in.path, err)
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
func dataset(r *coord.Reader, in input, name, slice string) (*coord.View, coord.Spec, box, error) {
	v, err := r.Dataset(name)
	if errors.Is(err, coord.ErrNotFound) {
		return nil, coord.Spec{}, box{}, fmt.Errorf("%s: no dataset %q (preader ls lists them)", in.path, name)
	}
	if err != nil {
		return nil, coord.Spec{}, box{}, cli.FileErr(in.path, err)
	}
	spec, err := v.Spec()
	if err != nil {
		return nil, coord.Spec{}, box{}, cli.FileErr(in.path, err)
	}
	b, err := parseSlice(slice, spec.Shape)
	if err != nil {
		return nil, coord.Spec{}, box{}, cli.Usagef("--slice %q: %v", slice, err)
	}
	return v, spec, b, nil
}

func catCmd(args []string) error {
	fs := cli.NewFlags("preader cat", "[flags] FILE DATASET", "Print the values of DATASET (or of a slice of it), one line per innermost row.")
	slice := fs.String("slice", "", "per dimension a, a:b or :, comma-separated (default everything)")
	asJSON := fs.Bool("json", false, `print {"shape":[...],"data":[...]} (data flattened, row-major)`)
	limit := fs.Uint64("limit", 1<<20, "refuse to print more elements than this (use export for more)")
	pos, in, err := parseInput(fs, args, 2)
	if err != nil {
		return err
	}
	if err := cli.Positive(fs, "limit"); err != nil {
		return err
	}
	if err := cli.CheckName(pos[1]); err != nil {
		return err
	}
	r, err := in.open()
	if err != nil {
		return err
	}
	defer r.Close()
	v, spec, b, err := dataset(r, in, pos[1], *slice)
	if err != nil {
		return err
	}
	if n := b.elems(); n > *limit {
		return cli.Usagef("%s: the slice has %d elements, more than --limit %d; narrow --slice or use export", pos[1], n, *limit)
	}
	buf := make([]byte, b.elems()*uint64(spec.Type.Size()))
	if err := v.ReadSlab(b.start, b.count, buf); err != nil {
		return cli.FileErr(in.path, err)
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
	fs := cli.NewFlags("preader verify", "[flags] FILE",
		"Deep-check a closed or recovered pwriter file: every structure and checksum, then every value\nof every complete step. Several problems are counted on the error line; --json lists them all.")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	pos, in, err := parseInput(fs, args, 1)
	if err != nil {
		return err
	}
	res, err := job.Verify(pos[0], coord.Config{MDPath: in.md})
	err = cli.FileErr(in.path, err)
	if *asJSON {
		if err != nil {
			res.Error = err.Error()
		}
		json.NewEncoder(os.Stdout).Encode(res)
	} else if err == nil {
		fmt.Printf("%s: ok: %d datasets, %d steps, %d elements verified\n", pos[0], res.Datasets, res.Steps, res.Elements)
	}
	if err != nil && len(res.Problems) > 1 && !*asJSON {
		return fmt.Errorf("%w (preader verify --json lists them all)", err)
	}
	return err
}
