"""Loading libpwstore and calling it safely.

The library is looked for, in order: the path in ``PWSTORE_LIB``; a
``libpwstore.so`` next to this package (an installed copy); the dynamic
linker's search path (``LD_LIBRARY_PATH``, ``ldconfig``'s cache). Every
function gets its exact C prototype, so ctypes converts and checks each
argument, and every status code becomes an exception of
:mod:`pwstore.errors` carrying ``pw_errmsg()``.
"""

import ctypes
import ctypes.util
import os
import threading

from . import errors

c_handle = ctypes.c_int64
c_u64p = ctypes.POINTER(ctypes.c_uint64)
MAXDIMS = 8
UNLIMITED = 2**64 - 1

# Type codes of pwstore.h and their numpy dtypes (little-endian, as written).
TYPES = {1: "<i1", 2: "<i2", 3: "<i4", 4: "<i8", 5: "<u1", 6: "<u2", 7: "<u4",
         8: "<u8", 9: "<f4", 10: "<f8"}

# Attribute kinds of pw_attr_get.
ATTR_INT, ATTR_UINT, ATTR_FLOAT, ATTR_STR = 1, 2, 3, 4


class Config(ctypes.Structure):
    """struct pw_config of pwstore.h, field for field."""
    _fields_ = [
        ("version", ctypes.c_int),
        ("tick_seconds", ctypes.c_double),
        ("max_lag", ctypes.c_int),
        ("page_size", ctypes.c_int),
        ("durable", ctypes.c_int),
        ("manual_ticks", ctypes.c_int),
        ("keep_md", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("size", ctypes.c_int),
        ("job", ctypes.c_char_p),
        ("nats_url", ctypes.c_char_p),
        ("log_file", ctypes.c_char_p),
        ("coll_timeout_seconds", ctypes.c_double),
        ("open_wait_seconds", ctypes.c_double),
        ("writer_gone_seconds", ctypes.c_double),
    ]


_H, _I, _SZ, _P = c_handle, ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p
_S, _IP = ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)
_HP, _SZP = ctypes.POINTER(c_handle), ctypes.POINTER(ctypes.c_size_t)
_CFG = ctypes.POINTER(Config)
_U64, _I64, _F64 = ctypes.c_uint64, ctypes.c_int64, ctypes.c_double

# name: argument types; every function returns an int status.
_PROTOS = {
    "pw_version": [_IP, _IP, _IP],
    "pw_nats_serve": [_S, ctypes.c_char_p, _SZ],
    "pw_create": [_S, _CFG, _HP],
    "pw_open": [_S, _CFG, _HP],
    "pw_dataset_create": [_H, _S, _I, _I, c_u64p, c_u64p, c_u64p, _HP],
    "pw_dataset_open": [_H, _S, _HP],
    "pw_dataset_extend": [_H, _U64],
    "pw_dataset_write": [_H, c_u64p, c_u64p, _P, _SZ],
    "pw_dataset_append": [_H, _U64, _P, _SZ],
    "pw_dataset_read": [_H, c_u64p, c_u64p, _P, _SZ],
    "pw_dataset_info": [_H, _IP, _IP, c_u64p],
    "pw_dataset_maxshape": [_H, c_u64p],
    "pw_dataset_chunk": [_H, c_u64p],
    "pw_attr_set_f64": [_H, _S, _F64],
    "pw_attr_set_i64": [_H, _S, _I64],
    "pw_attr_set_u64": [_H, _S, _U64],
    "pw_attr_set_str": [_H, _S, _S],
    "pw_attr_count": [_H, _SZP],
    "pw_attr_name": [_H, _SZ, ctypes.c_char_p, _SZ],
    "pw_attr_get": [_H, _S, _IP, ctypes.POINTER(_I64), c_u64p,
                    ctypes.POINTER(_F64), ctypes.c_char_p, _SZ],
    "pw_sync": [_H],
    "pw_end_tick": [_H],
    "pw_flush": [_H],
    "pw_reader_open": [_S, _CFG, _HP],
    "pw_reader_tick": [_H, c_u64p],
    "pw_reader_writer_closed": [_H, _IP],
    "pw_dataset_count": [_H, _SZP],
    "pw_dataset_name": [_H, _SZ, ctypes.c_char_p, _SZ],
    "pw_recover": [_S, _CFG, c_u64p],
    "pw_close": [_H],
}

_lock = threading.Lock()  # guards _lib while it is being loaded
_lib = None


def _candidates():
    env = os.environ.get("PWSTORE_LIB")
    if env:
        return [env]
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libpwstore.so")
    found = [here] if os.path.exists(here) else []
    name = ctypes.util.find_library("pwstore")
    return found + ([name] if name else []) + ["libpwstore.so"]


def lib():
    """The loaded library, with prototypes set (loaded on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            tried = []
            for path in _candidates():
                try:
                    handle = ctypes.CDLL(path)
                except OSError as e:
                    tried.append(f"{path}: {e}")
                    continue
                for name, args in _PROTOS.items():
                    fn = getattr(handle, name)
                    fn.argtypes, fn.restype = args, ctypes.c_int
                handle.pw_errmsg.argtypes, handle.pw_errmsg.restype = [], ctypes.c_char_p
                handle.pw_config_init.argtypes = [_CFG]
                handle.pw_config_init.restype = None
                _lib = handle
                break
            else:
                raise errors.LibraryError(
                    "libpwstore not found (set PWSTORE_LIB to PREFIX/lib/libpwstore.so "
                    "after scripts/install-lib PREFIX): " + "; ".join(tried))
    return _lib


def call(name, *args):
    """Call pw_<name>; raise the matching pwstore error on a non-zero status."""
    L = lib()
    rc = getattr(L, name)(*args)
    if rc != 0:
        msg = L.pw_errmsg()
        raise errors.from_code(rc, msg.decode("utf-8", "replace") if msg else f"{name}: status {rc}")
    return rc


def config(**kw):
    """A pw_config initialised by pw_config_init, then the fields in kw
    (strings are encoded; the caller keeps the returned object alive while
    the library uses it)."""
    c = Config()
    lib().pw_config_init(ctypes.byref(c))
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, str):
            v = v.encode()
        setattr(c, k, v)
    return c


def u64s(values):
    """A C array of uint64 from ints (validated non-negative by the caller)."""
    return (ctypes.c_uint64 * max(len(values), 1))(*values)


def version():
    """The library's version as (major, minor, patch)."""
    v = [ctypes.c_int(), ctypes.c_int(), ctypes.c_int()]
    call("pw_version", *(ctypes.byref(x) for x in v))
    return tuple(x.value for x in v)


def nats_serve(listen="127.0.0.1:0"):
    """Start a NATS server inside this process (the library's embedded
    one) listening on ``listen``; return its URL, for PW_NATS_URL."""
    buf = ctypes.create_string_buffer(512)
    call("pw_nats_serve", listen.encode(), buf, len(buf))
    return buf.value.decode()
