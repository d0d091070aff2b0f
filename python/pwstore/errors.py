"""Exceptions of pwstore: one class per status code of libpwstore.

Every exception derives from :class:`Error` and carries the library's
message and its status code (``err.code``). Where a built-in exception says
the same thing, the class derives from it too, so code written for h5py or
plain files keeps working: ``NotFoundError`` is a ``KeyError`` (a missing
dataset in ``f[name]``) and a ``FileNotFoundError``, ``ExistsError`` a
``FileExistsError``, ``ArgError`` and ``ClosedError`` are ``ValueError``,
``TimeoutError`` the built-in ``TimeoutError``.
"""

import builtins


class Error(Exception):
    """Base of every pwstore error; ``code`` is the PW_ERR_* status."""

    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class ArgError(Error, ValueError):
    """A bad argument (PW_ERR_ARG)."""
    code = -1


class ConfigError(Error, ValueError):
    """An invalid configuration (PW_ERR_CONFIG)."""
    code = -2


class NotFoundError(Error, KeyError, FileNotFoundError):
    """No such file or dataset (PW_ERR_NOT_FOUND)."""
    code = -3


class ExistsError(Error, FileExistsError):
    """The file or dataset path exists already (PW_ERR_EXISTS)."""
    code = -4


class CorruptError(Error):
    """Bad bytes: a checksum, magic or bound that does not hold, or a file
    that is not pwstore's (PW_ERR_CORRUPT)."""
    code = -5


class IOError(Error, builtins.OSError):  # noqa: A001 - the library's own I/O error
    """An operating-system I/O error (PW_ERR_IO)."""
    code = -6


class LaggingError(Error):
    """The reader fell behind the oldest tick the writer keeps (max_lag
    ticks and its lag window in time) (PW_ERR_LAGGING); call ``tick()``
    to catch up."""
    code = -7


class WriterGoneError(Error):
    """The writer's heartbeat stopped (PW_ERR_WRITER_GONE); the last
    snapshot stays readable."""
    code = -8


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001
    """A collective call did not complete in time (PW_ERR_TIMEOUT)."""
    code = -9


class DivergedError(Error):
    """Writer ranks made different metadata calls (PW_ERR_DIVERGED)."""
    code = -10


class ClosedError(Error, ValueError):
    """The file, reader or dataset is closed (PW_ERR_CLOSED)."""
    code = -11


class BadHandleError(Error, ValueError):
    """An unknown handle, or one of the wrong kind (PW_ERR_BAD_HANDLE)."""
    code = -12


class NotReadyError(Error):
    """The file or its writer's first tick did not appear within the open
    wait (PW_ERR_NOT_READY)."""
    code = -13


class WriterAliveError(Error):
    """recover() found the writer still publishing (PW_ERR_WRITER_ALIVE)."""
    code = -14


class LibraryError(Error, ImportError):
    """libpwstore could not be found or loaded."""


_BY_CODE = {cls.code: cls for cls in (
    ArgError, ConfigError, NotFoundError, ExistsError, CorruptError, IOError,
    LaggingError, WriterGoneError, TimeoutError, DivergedError, ClosedError,
    BadHandleError, NotReadyError, WriterAliveError)}


def from_code(code, message):
    """The exception for status code ``code`` with the library's message."""
    cls = _BY_CODE.get(code, Error)
    return cls(message, code)
