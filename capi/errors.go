package main

/*
#define PWSTORE_NO_PROTOTYPES
#include "pwstore.h"
void pwc_set_err(const char *msg, size_t n);
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"unsafe"

	"pwstore/collective"
	"pwstore/coord"
)

// The C interface's own errors, beside coord's.
var (
	errArg       = errors.New("bad argument")
	errBadHandle = errors.New("bad handle")
)

// code maps an error to its PW_ERR_* status: the one place that does.
func code(err error) C.int {
	switch {
	case errors.Is(err, errArg), errors.Is(err, coord.ErrInvalid):
		return C.PW_ERR_ARG
	case errors.Is(err, errBadHandle):
		return C.PW_ERR_BAD_HANDLE
	case errors.Is(err, coord.ErrConfig):
		return C.PW_ERR_CONFIG
	case errors.Is(err, coord.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return C.PW_ERR_NOT_FOUND
	case errors.Is(err, coord.ErrExists), errors.Is(err, fs.ErrExist):
		return C.PW_ERR_EXISTS
	case errors.Is(err, coord.ErrCorrupt), errors.Is(err, coord.ErrWrongFile):
		return C.PW_ERR_CORRUPT
	case errors.Is(err, coord.ErrLagging):
		return C.PW_ERR_LAGGING
	case errors.Is(err, coord.ErrWriterGone), errors.Is(err, coord.ErrNeedsRecovery):
		return C.PW_ERR_WRITER_GONE
	case errors.Is(err, coord.ErrTimeout):
		return C.PW_ERR_TIMEOUT
	case errors.Is(err, coord.ErrDiverged):
		return C.PW_ERR_DIVERGED
	case errors.Is(err, coord.ErrClosed), errors.Is(err, collective.ErrClosed):
		return C.PW_ERR_CLOSED
	case errors.Is(err, coord.ErrNotReady):
		return C.PW_ERR_NOT_READY
	case errors.Is(err, coord.ErrWriterAlive):
		return C.PW_ERR_WRITER_ALIVE
	}
	return C.PW_ERR_IO
}

// fail records err as the calling thread's last error and returns its code.
func fail(err error) C.int {
	msg := err.Error()
	C.pwc_set_err((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	return code(err)
}

// status is PW_OK for nil, else fail(err).
func status(err error) C.int {
	if err == nil {
		return C.PW_OK
	}
	return fail(err)
}

// guard turns a panic into PW_ERR_IO, so that no bad use crashes the
// caller's process: every exported function defers it.
func guard(rc *C.int) {
	if p := recover(); p != nil {
		*rc = fail(fmt.Errorf("internal error: %v", p))
	}
}

// argf is a PW_ERR_ARG error.
func argf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errArg)...)
}
