package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"pwstore/coord"
	"pwstore/internal/tool/cli"
)

// npyDescr is numpy's type string for each element kind.
func npyDescr(t coord.Type) string {
	switch t {
	case coord.Int8:
		return "|i1"
	case coord.Int16:
		return "<i2"
	case coord.Int32:
		return "<i4"
	case coord.Int64:
		return "<i8"
	case coord.Uint8:
		return "|u1"
	case coord.Uint16:
		return "<u2"
	case coord.Uint32:
		return "<u4"
	case coord.Uint64:
		return "<u8"
	case coord.Float32:
		return "<f4"
	case coord.Float64:
		return "<f8"
	}
	return fmt.Sprintf("|S%d", t.Len())
}

// npyHeader is the .npy version 1.0 header for a C-ordered array: magic,
// version, header length, then a Python dict literal padded with spaces to
// a multiple of 64 bytes and ended by a newline.
func npyHeader(t coord.Type, shape []uint64) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", npyDescr(t), tuple)
	const pre = 10 // magic (6) + version (2) + length (2)
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	hdr := make([]byte, 0, total)
	hdr = append(hdr, "\x93NUMPY\x01\x00"...)
	n := total - pre
	hdr = append(hdr, byte(n), byte(n>>8))
	hdr = append(hdr, dict...)
	for len(hdr) < total-1 {
		hdr = append(hdr, ' ')
	}
	return append(hdr, '\n')
}

func exportCmd(args []string) error {
	fs := cli.NewFlags("preader export", "--npy OUT [flags] FILE DATASET",
		"Write DATASET (or a slice of it) as a numpy .npy file. OUT is written under a temporary name\nbeside it and renamed at the end: on an error nothing at OUT changes. OUT may not be FILE,\nits metadata file, or another name of either.")
	out := fs.String("npy", "", "output .npy file (required)")
	slice := fs.String("slice", "", "per dimension a, a:b or :, comma-separated (default everything)")
	pos, in, err := parseInput(fs, args, 2)
	if err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--npy OUT is required")
	}
	if err := cli.CheckName(pos[1]); err != nil {
		return err
	}
	if err := cli.NotAnInput(*out, in.files()...); err != nil {
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
	err = writeAtomic(*out, func(w *bufio.Writer) error { return writeNPY(w, v.ReadSlab, spec.Type, b) })
	if err != nil {
		return cli.FileErr(in.path, err)
	}
	return nil
}

// writeAtomic writes path through a temporary file in its directory,
// renamed over path once complete: path is either as it was or complete.
// A file already at path keeps its permissions.
func writeAtomic(path string, write func(*bufio.Writer) error) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	tmp := f.Name()
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp) // ours: created above
		return fmt.Errorf("export %s: %w", path, err)
	}
	return nil
}

// writeNPY writes the header, then the slab in blocks of whole rows of the
// first dimension, so large datasets stream through bounded memory.
func writeNPY(w *bufio.Writer, read func(start, count []uint64, buf []byte) error, t coord.Type, b box) error {
	if _, err := w.Write(npyHeader(t, b.count)); err != nil {
		return err
	}
	if len(b.count) == 0 || b.elems() == 0 {
		return nil
	}
	rowBytes := uint64(t.Size())
	for _, c := range b.count[1:] {
		rowBytes *= c
	}
	rows := max(uint64(64<<20)/max(rowBytes, 1), 1)
	buf := make([]byte, min(rows, b.count[0])*rowBytes)
	start := append([]uint64(nil), b.start...)
	count := append([]uint64(nil), b.count...)
	for done := uint64(0); done < b.count[0]; done += count[0] {
		start[0] = b.start[0] + done
		count[0] = min(rows, b.count[0]-done)
		part := buf[:count[0]*rowBytes]
		if err := read(start, count, part); err != nil {
			return err
		}
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}
