package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
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
	fs := flag.NewFlagSet("preader export", flag.ContinueOnError)
	out := fs.String("npy", "", "output .npy file (required)")
	slice := fs.String("slice", "", "per dimension a, a:b or :, comma-separated (default everything)")
	pos, r, err := parseOpen(fs, args, 2)
	if err != nil {
		return err
	}
	if *out == "" {
		r.Close()
		return cli.Usagef("preader export: --npy OUT is required")
	}
	defer r.Close()
	v, spec, b, err := dataset(r, pos[1], *slice)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = writeNPY(w, v.ReadSlab, spec.Type, b)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return fmt.Errorf("export %s: %w", *out, err)
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
