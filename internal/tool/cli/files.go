package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pwstore/pfile"
)

// MaxNameBytes bounds a dataset name given on the command line.
const MaxNameBytes = 1024

// CheckName refuses a dataset name longer than MaxNameBytes.
func CheckName(name string) error {
	if len(name) > MaxNameBytes {
		return Badf("dataset name %q is longer than the limit of %d bytes", name, MaxNameBytes)
	}
	return nil
}

// Input checks a file a command reads before anything opens it: it must
// exist (unless mayBeMissing) and be a regular file, so that a directory
// or a FIFO is refused at once instead of blocking an open.
func Input(path string, mayBeMissing bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mayBeMissing:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return Badf("%s: not a regular file (%s)", path, kind(fi.Mode()))
	}
	return nil
}

// MDPath is the metadata file of path: md if given, else path + ".md".
func MDPath(path, md string) string {
	if md != "" {
		return md
	}
	return path + ".md"
}

// kind names a file mode for a message.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// FileErr gives an error about path its one-line form: a foreign file is
// "PATH: not a pwstore file", and the path is named once - added if the
// error does not name it already.
func FileErr(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pfile.ErrNotPWFile) {
		return &described{msg: path + ": not a pwstore file", err: err}
	}
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// described replaces an error's text and keeps it for errors.Is.
type described struct {
	msg string
	err error
}

func (d *described) Error() string { return d.msg }
func (d *described) Unwrap() error { return d.err }

// NotAnInput refuses an output path that is one of the files a command
// reads, compared by identity (device and inode: another name, ./F or a
// symbolic link is the same file) and, for inputs that may not exist yet
// (a metadata file), by their directory's identity and name.
func NotAnInput(out string, inputs ...string) error {
	ofi, oerr := os.Stat(out)
	if oerr == nil && !ofi.Mode().IsRegular() {
		return Badf("%s: not a regular file (%s)", out, kind(ofi.Mode()))
	}
	for _, in := range inputs {
		ifi, err := os.Stat(in)
		if oerr == nil && err == nil && os.SameFile(ofi, ifi) {
			return Badf("%s: it is the input file %s; give another output path", out, in)
		}
		if err != nil && sameName(out, in) {
			return Badf("%s: it is the path of the input file %s; give another output path", out, in)
		}
	}
	return nil
}

// sameName reports whether a and b name one entry: the same base name in
// the same directory (by identity).
func sameName(a, b string) bool {
	if filepath.Base(a) != filepath.Base(b) {
		return false
	}
	da, err1 := os.Stat(filepath.Dir(a))
	db, err2 := os.Stat(filepath.Dir(b))
	return err1 == nil && err2 == nil && os.SameFile(da, db)
}
