package cli

import (
	"fmt"
	"strings"
)

// EnvFileLocking turns the data file's lock off for every writer and
// recovery of this process when it is FALSE, as HDF5_USE_FILE_LOCKING does
// for HDF5: the switch for programs whose configuration has no field for
// it (C, Fortran, Python) and for file systems whose locks misbehave.
const EnvFileLocking = "PW_USE_FILE_LOCKING"

// NoFileLock reports whether the environment turns the lock off: unset,
// empty, TRUE or 1 keep it; FALSE or 0 turn it off (either case); anything
// else is an error that names the variable.
func NoFileLock(getenv func(string) string) (bool, error) {
	switch v := getenv(EnvFileLocking); strings.ToUpper(v) {
	case "", "TRUE", "1":
		return false, nil
	case "FALSE", "0":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want TRUE or FALSE", EnvFileLocking, v)
	}
}

// NoFileLockFlag is a command's --no-file-lock: set, or turned on by the
// environment; a bad value of the variable is a usage error.
func NoFileLockFlag(set bool, getenv func(string) string) (bool, error) {
	off, err := NoFileLock(getenv)
	if err != nil {
		return false, Usagef("%v", err)
	}
	return set || off, nil
}
