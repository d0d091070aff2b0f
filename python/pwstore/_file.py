"""File, Dataset and attributes: the h5py-like face of libpwstore."""

import atexit
import ctypes
import math
import numbers
import os
import re
import sys
import uuid
import weakref
from collections.abc import MutableMapping
from typing import NamedTuple, Optional

import numpy as np

from . import _lib, errors
from ._select import Dim, parse, result_shape

# Reads that may read a whole bounding box for a stepped selection: up to
# this many times the selected elements, or this many bytes, whichever is
# more. Beyond it a stepped axis is read one index at a time.
_BOX_FACTOR = 4
_BOX_BYTES = 16 << 20

_counters = {"read_calls": 0, "read_bytes": 0}


def stats():
    """Calls of pw_dataset_read made by this process and the bytes they
    returned (a copy): what was really read, e.g. to see that xarray loads
    lazily."""
    return dict(_counters)


def _dtype_code(dtype):
    dt = np.dtype(dtype)
    for code, name in _lib.TYPES.items():
        if np.dtype(name) == dt.newbyteorder("<"):
            return code, np.dtype(name)
    raise TypeError(f"pwstore has no element type for dtype {dt} "
                    "(int8..int64, uint8..uint64, float32, float64)")


def _nonneg_ints(name, values, ndim=None):
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise errors.ArgError(f"{name} must be a sequence of non-negative integers, not {values!r}") from None
    if any(v < 0 or v >= _lib.UNLIMITED for v in out):
        raise errors.ArgError(f"{name} must be non-negative integers below 2**64-1: {values!r}")
    if ndim is not None and len(out) != ndim:
        raise errors.ArgError(f"{name} {values!r} has {len(out)} dimensions, the dataset {ndim}")
    return out


def _seconds(name, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (v >= 0) or math.isinf(v):
        raise errors.ConfigError(f"{name} must be a non-negative number of seconds, not {v!r}")
    return float(v)


def _small_int(name, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < 2**31:
        raise errors.ConfigError(f"{name} must be a non-negative int, not {v!r}")
    return int(v)


class Comm(NamedTuple):
    """Where one rank of a parallel reader or writer stands. ``File(...,
    comm=Comm(rank, size, job, nats_url))`` or a plain tuple of the same;
    ``job`` (the same string on every rank of one job) and ``nats_url``
    default to PW_JOB and PW_NATS_URL."""
    rank: int
    size: int
    job: Optional[str] = None
    nats_url: Optional[str] = None


def _resolve_comm(comm):
    """comm as a Comm, or None to let the library read the environment."""
    if comm is None:
        return None
    if hasattr(comm, "Get_rank") and hasattr(comm, "Get_size") and hasattr(comm, "bcast"):
        # An mpi4py communicator: rank 0 names the job and, without
        # PW_NATS_URL, serves NATS itself; the others learn both.
        rank, size = comm.Get_rank(), comm.Get_size()
        mine = None
        if rank == 0:
            url = os.environ.get("PW_NATS_URL") or (_lib.nats_serve() if size > 1 else None)
            mine = (os.environ.get("PW_JOB") or f"py-{uuid.uuid4().hex[:12]}", url)
        job, url = comm.bcast(mine, root=0)
        return Comm(rank, size, job, url)
    if isinstance(comm, (tuple, list)):
        if not 2 <= len(comm) <= 4:
            raise errors.ArgError(f"comm tuple must be (rank, size[, job[, nats_url]]), not {comm!r}")
        c = Comm(*comm)
    elif hasattr(comm, "rank") and hasattr(comm, "size"):
        c = Comm(comm.rank, comm.size, getattr(comm, "job", None), getattr(comm, "nats_url", None))
    else:
        raise TypeError(f"comm must be an mpi4py communicator, a pwstore.Comm or a "
                        f"(rank, size, job, nats_url) tuple, not {type(comm).__name__}")
    if not (isinstance(c.rank, numbers.Integral) and isinstance(c.size, numbers.Integral)
            and 1 <= c.size < 2**31 and 0 <= c.rank < c.size):
        raise errors.ArgError(f"comm: rank {c.rank!r} of size {c.size!r} is not a rank of a job")
    for f in ("job", "nats_url"):
        v = getattr(c, f)
        if v is not None and not isinstance(v, str):
            raise errors.ArgError(f"comm: {f} must be a string, not {v!r}")
    return Comm(int(c.rank), int(c.size), c.job, c.nats_url)


def _config(comm=None, tick=None, max_lag=None, page_size=None, durable=False,
            manual_ticks=False, keep_md=False, log_file=None, coll_timeout=None,
            open_wait=None, writer_gone=None):
    kw = dict(
        tick_seconds=_seconds("tick", tick), max_lag=_small_int("max_lag", max_lag),
        page_size=_small_int("page_size", page_size), durable=int(bool(durable)),
        manual_ticks=int(bool(manual_ticks)), keep_md=int(bool(keep_md)),
        coll_timeout_seconds=_seconds("coll_timeout", coll_timeout),
        open_wait_seconds=_seconds("open_wait", open_wait),
        writer_gone_seconds=_seconds("writer_gone", writer_gone))
    if log_file is not None:
        kw["log_file"] = os.fspath(log_file)
    c = comm if isinstance(comm, Comm) else _resolve_comm(comm)
    if c is not None:
        kw.update(rank=c.rank, size=c.size, job=c.job, nats_url=c.nats_url)
    return _lib.config(**kw)


def _path(path):
    try:
        p = os.fspath(path)
    except TypeError:
        raise errors.ArgError(f"path must be a string or os.PathLike, not {type(path).__name__}") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p or "\0" in p:
        raise errors.ArgError(f"bad path {path!r}")
    return p


def _dsname(name):
    if not isinstance(name, str):
        raise TypeError(f"dataset names are strings, not {type(name).__name__}")
    if "\0" in name or not name.strip("/"):
        raise errors.ArgError(f"bad dataset name {name!r}")
    return name if name.startswith("/") else "/" + name


def _string(fn, *args):
    """Call a pw_ function that writes a string into (buf, buflen) as its
    last two arguments; a buffer too small gets ArgError saying the size
    needed, and one more call with that size."""
    size = 256
    while True:
        buf = ctypes.create_string_buffer(size)
        try:
            _lib.call(fn, *args, buf, size)
            return buf.value.decode()
        except errors.ArgError as e:
            m = re.search(r"too small: need (\d+)", str(e))
            if not m or int(m.group(1)) <= size:
                raise
            size = int(m.group(1))


def _names(handle, count_fn, name_fn):
    n = ctypes.c_size_t()
    _lib.call(count_fn, handle, ctypes.byref(n))
    return [_string(name_fn, handle, i) for i in range(n.value)]


# Files still open, closed at interpreter exit (as h5py and Python's own
# files are), so that a script that forgets close() leaves a clean file.
_open_files = weakref.WeakSet()


@atexit.register
def _close_at_exit():
    for f in list(_open_files):
        try:
            f.close()
        except Exception as e:  # exit goes on; say what could not be closed
            print(f"pwstore: closing {f.filename} at exit: {e}", file=sys.stderr)


class File:
    """A pwstore file: mode ``"r"`` follows it (live or closed), ``"w"``
    creates it (ExistsError if it exists: pwstore never overwrites a
    file), ``"a"`` (or ``"r+"``) reopens a closed or recovered file to
    append.

    Keyword arguments configure the library (pw_config): ``tick`` (seconds;
    a writer's publication period, default 0.1; a reader given one ticks by
    itself on reads when due, without it ticks only at ``tick()``),
    ``max_lag``, ``page_size``, ``durable``, ``manual_ticks``, ``keep_md``,
    ``log_file``, ``coll_timeout``, ``open_wait``, ``writer_gone`` (seconds).
    The environment variable ``PW_USE_FILE_LOCKING=FALSE`` stops writers
    from locking the data file, for file systems whose locks misbehave.

    ``comm`` makes the File one rank of a parallel writer or of a
    collective reader (all ranks call ``tick()`` together and adopt the same
    snapshot): an mpi4py communicator, a :class:`Comm` or a tuple
    ``(rank, size[, job[, nats_url]])``. Without it the rank comes from the
    environment (PW_RANK/PW_SIZE/PW_JOB, SLURM_PROCID/..., OMPI_COMM_WORLD_*)
    and the NATS server from PW_NATS_URL; with none of these set, the File
    is a single rank. ``f.comm`` is the comm as resolved (a Comm, or None).
    """

    def __init__(self, path, mode="r", *, tick=None, comm=None, max_lag=None, page_size=None,
                 durable=False, manual_ticks=None, keep_md=False, log_file=None,
                 coll_timeout=None, open_wait=None, writer_gone=None):
        self._h = 0
        self.filename = _path(path)
        if mode not in ("r", "w", "w-", "x", "a", "r+"):
            raise errors.ArgError(f"mode must be 'r', 'w' (or 'x'), or 'a' (or 'r+'), not {mode!r}")
        self.mode = {"w-": "w", "x": "w", "r+": "a"}.get(mode, mode)
        if manual_ticks is None:  # a reader without a tick period ticks when told
            manual_ticks = self.mode == "r" and tick is None
        # comm as resolved (a Comm; None: the environment decides)
        self.comm = _resolve_comm(comm)
        self._cfg = _config(self.comm, tick, max_lag, page_size, durable, manual_ticks, keep_md,
                            log_file, coll_timeout, open_wait, writer_gone)
        fn = {"r": "pw_reader_open", "w": "pw_create", "a": "pw_open"}[self.mode]
        h = _lib.c_handle()
        _lib.call(fn, self.filename.encode(), ctypes.byref(self._cfg), ctypes.byref(h))
        self._h = h.value
        self._datasets = {}
        _open_files.add(self)

    # -- life cycle
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self):
        return self._h == 0

    def _handle(self):
        if self._h == 0:
            raise errors.ClosedError(f"{self.filename}: file is closed")
        return self._h

    def close(self):
        """Close the datasets and the file (collective for parallel files;
        a writer's close publishes the final state). A second close does
        nothing."""
        if self._h == 0:
            return
        h, self._h = self._h, 0
        _open_files.discard(self)
        first = None
        for d in self._datasets.values():
            try:
                d._close()
            except errors.Error as e:
                first = first or e
        self._datasets.clear()
        _lib.call("pw_close", h)
        if first is not None:
            raise first

    def __repr__(self):
        state = "closed" if self.closed else f"mode {self.mode!r}"
        return f"<pwstore.File {self.filename!r} ({state})>"

    # -- reader
    def tick(self):
        """Adopt the newest snapshot the writer published; return its tick.
        Collective for a parallel reader. Raises WriterGoneError when the
        writer's heartbeat stopped (the last snapshot stays readable) and
        LaggingError when this reader fell too far behind."""
        self._reader("tick()")
        t = ctypes.c_uint64()
        _lib.call("pw_reader_tick", self._handle(), ctypes.byref(t))
        return t.value

    @property
    def writer_closed(self):
        """True once the writer closed the file (it is complete)."""
        self._reader("writer_closed")
        v = ctypes.c_int()
        _lib.call("pw_reader_writer_closed", self._handle(), ctypes.byref(v))
        return bool(v.value)

    def _reader(self, what):
        if self.mode != "r":
            raise errors.ArgError(f"{what} is for files opened in mode 'r'")

    def _writer(self, what):
        if self.mode == "r":
            raise errors.ArgError(f"{self.filename}: {what}: file is open read-only (mode 'r')")

    # -- writer
    def sync(self):
        """The step is complete: a sync point where ranks meet and the
        writer publishes when a tick is due (collective)."""
        self._writer("sync()")
        _lib.call("pw_sync", self._handle())

    def end_tick(self):
        """End the tick now: publish every change so far (collective)."""
        self._writer("end_tick()")
        _lib.call("pw_end_tick", self._handle())

    def flush(self):
        """Write everything back to the data file (collective)."""
        self._writer("flush()")
        _lib.call("pw_flush", self._handle())

    # -- datasets
    def keys(self):
        """Dataset paths, sorted."""
        return sorted(_names(self._handle(), "pw_dataset_count", "pw_dataset_name"))

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except (errors.NotFoundError, errors.ArgError):
            return False
        return True

    def values(self):
        return [self[k] for k in self.keys()]

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def __getitem__(self, name):
        name = _dsname(name)
        d = self._datasets.get(name)
        if d is None:
            h = _lib.c_handle()
            _lib.call("pw_dataset_open", self._handle(), name.encode(), ctypes.byref(h))
            d = self._datasets[name] = Dataset(self, name, h.value)
        return d

    def get(self, name, default=None):
        try:
            return self[name]
        except errors.NotFoundError:
            return default

    def create_dataset(self, name, shape=None, maxshape=None, chunks=None, dtype=None, data=None):
        """Create a dataset (collective) and return it. ``shape`` is an int
        or a tuple of 1 to 8 dimensions; ``maxshape`` a tuple whose None
        entries are unlimited (default: the library's, a fixed shape);
        ``chunks`` a tuple (default: the library's); ``dtype`` one of int8..
        int64, uint8..uint64, float32, float64 (default float64, or data's).
        ``data``, if given, is written as the whole dataset."""
        self._writer("create_dataset()")
        name = _dsname(name)
        arr = None
        if data is not None:
            arr = np.asarray(data, dtype=dtype)
            dtype = arr.dtype if dtype is None else dtype
            shape = arr.shape if shape is None else shape
        if shape is None:
            raise errors.ArgError("create_dataset needs shape or data")
        shape = _nonneg_ints("shape", (shape,) if isinstance(shape, numbers.Integral) else shape)
        if not 1 <= len(shape) <= _lib.MAXDIMS:
            raise errors.ArgError(f"a dataset has 1 to {_lib.MAXDIMS} dimensions, not {len(shape)}")
        code, _ = _dtype_code("float64" if dtype is None else dtype)
        maxp = chunkp = None
        if maxshape is not None:
            if isinstance(maxshape, numbers.Integral):
                maxshape = (maxshape,)
            mx = [_lib.UNLIMITED if m is None else m for m in maxshape]
            if len(mx) != len(shape) or not all(isinstance(m, numbers.Integral) and m >= 0 for m in mx):
                raise errors.ArgError(f"maxshape {maxshape!r} must have one non-negative int "
                                      f"or None per dimension of shape {shape}")
            if _lib.UNLIMITED in mx[1:] or any(n > m for n, m in zip(shape, mx)):
                raise errors.ArgError(f"maxshape {maxshape!r}: only the first dimension may be "
                                      f"unlimited (None), and no extent below shape {shape}")
            maxp = _lib.u64s(mx)
        if chunks is not None and chunks is not True:
            ch = _nonneg_ints("chunks", (chunks,) if isinstance(chunks, numbers.Integral) else chunks, len(shape))
            if 0 in ch:
                raise errors.ArgError(f"chunks {chunks!r}: every dimension must be at least 1")
            chunkp = _lib.u64s(ch)
        elif maxp is not None and _lib.UNLIMITED in mx:
            # The library needs a chunk with an unlimited dimension: the
            # other dimensions whole, and rows for about 64 KiB.
            rest = math.prod(m for m in mx if m != _lib.UNLIMITED) * np.dtype(_dtype_code(dtype or "float64")[1]).itemsize
            rows = max(1, (64 << 10) // max(rest, 1))
            chunkp = _lib.u64s([rows if m == _lib.UNLIMITED else max(m, 1) for m in mx])
        h = _lib.c_handle()
        _lib.call("pw_dataset_create", self._handle(), name.encode(), code, len(shape),
                  _lib.u64s(shape), maxp, chunkp, ctypes.byref(h))
        d = self._datasets[name] = Dataset(self, name, h.value)
        if arr is not None and arr.size:
            d[...] = arr
        return d


class Dataset:
    """One dataset of a File. Shape, values and attributes are those of the
    file's current snapshot (a reader's last tick) or, for a writer, its
    own state. Index it like a numpy array."""

    def __init__(self, file, name, handle):
        self.file = file
        self.name = name
        self._h = handle
        t, _, _ = self._info()
        self.dtype = np.dtype(_lib.TYPES[t])
        self.attrs = AttributeManager(self)

    def _handle(self):
        if self._h == 0 or self.file.closed:
            raise errors.ClosedError(f"{self.file.filename}: {self.name}: dataset is closed")
        return self._h

    def _close(self):
        h, self._h = self._h, 0
        if h:
            _lib.call("pw_close", h)

    def _info(self):
        t, n = ctypes.c_int(), ctypes.c_int()
        shape = (ctypes.c_uint64 * _lib.MAXDIMS)()
        _lib.call("pw_dataset_info", self._handle(), ctypes.byref(t), ctypes.byref(n), shape)
        return t.value, n.value, tuple(shape[:n.value])

    @property
    def shape(self):
        return self._info()[2]

    @property
    def ndim(self):
        return self._info()[1]

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def maxshape(self):
        """Per dimension the largest extent, None where unlimited."""
        m = (ctypes.c_uint64 * _lib.MAXDIMS)()
        _lib.call("pw_dataset_maxshape", self._handle(), m)
        return tuple(None if v == _lib.UNLIMITED else v for v in m[:self.ndim])

    @property
    def chunks(self):
        c = (ctypes.c_uint64 * _lib.MAXDIMS)()
        _lib.call("pw_dataset_chunk", self._handle(), c)
        return tuple(c[:self.ndim])

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        if self._h == 0 or self.file.closed:
            return f"<pwstore.Dataset {self.name!r} (closed)>"
        return f"<pwstore.Dataset {self.name!r}: shape {self.shape}, type {self.dtype.name}>"

    def __array__(self, dtype=None):
        a = self[...]
        return a if dtype is None else a.astype(dtype, copy=False)

    # -- reading
    def read(self, start, count, out=None):
        """Read the box at start of count elements per dimension into out
        (a C-contiguous array of this dtype and count's shape, or a new one)
        and return it: the library writes straight into its memory."""
        shape = self.shape
        start = _nonneg_ints("start", start, len(shape))
        count = _nonneg_ints("count", count, len(shape))
        if any(s + c > n for s, c, n in zip(start, count, shape)):
            raise IndexError(f"{self.name}: box start {start} count {count} is outside shape {shape}")
        if out is None:
            out = np.empty(count, self.dtype)
        elif not (isinstance(out, np.ndarray) and out.dtype == self.dtype and out.flags.c_contiguous
                  and out.flags.writeable and out.size == math.prod(count)):
            raise errors.ArgError(f"out must be a writable C-contiguous {self.dtype} array "
                                  f"of {math.prod(count)} elements")
        if out.size:
            self._read_box(start, count, out)
        return out

    def _read_box(self, start, count, out):
        _lib.call("pw_dataset_read", self._handle(), _lib.u64s(start), _lib.u64s(count),
                  out.ctypes.data, out.nbytes)
        _counters["read_calls"] += 1
        _counters["read_bytes"] += out.nbytes

    def __getitem__(self, key):
        dims = parse(key, self.shape)
        counts = [d.count for d in dims]
        if 0 in counts:
            return np.empty(result_shape(dims), self.dtype)
        out = np.empty(counts, self.dtype)
        self._read_dims(dims, out)
        return out.reshape(result_shape(dims))

    def _read_dims(self, dims, out):
        """Read the selection dims into out (shape: the counts). A box goes
        straight into out's memory. A stepped selection reads its bounding
        box and takes every step-th element, unless the box is much larger
        than the selection: then the first stepped axis is read one index
        at a time."""
        stepped = [i for i, d in enumerate(dims) if d.step != 1 and d.count > 1]
        if not stepped:
            start, count = [d.start for d in dims], [d.count for d in dims]
            if out.flags.c_contiguous:
                self._read_box(start, count, out)
            else:
                tmp = np.empty(count, self.dtype)
                self._read_box(start, count, tmp)
                out[...] = tmp
            return
        boxes = [d.box() for d in dims]
        box_elems = math.prod(c for _, c in boxes)
        if box_elems <= max(_BOX_FACTOR * out.size, _BOX_BYTES // self.dtype.itemsize):
            box = np.empty([c for _, c in boxes], self.dtype)
            self._read_box([s for s, _ in boxes], [c for _, c in boxes], box)
            out[...] = box[tuple(slice(0, None, d.step) if d.step > 0 else slice(c - 1, None, d.step)
                                 for d, (_, c) in zip(dims, boxes))]
            return
        k = stepped[0]
        d = dims[k]
        for j in range(d.count):
            sub = list(dims)
            sub[k] = Dim(d.start + j * d.step, 1, 1, False)
            self._read_dims(sub, out[(slice(None),) * k + (slice(j, j + 1),)])

    # -- writing
    def __setitem__(self, key, value):
        """Write value (broadcast to the selection, converted to the
        dataset's dtype) into the selection: ints and slices of step 1."""
        self.file._writer(f"{self.name}[...] = ...")
        dims = parse(key, self.shape)
        if any(d.step != 1 and d.count > 1 for d in dims):
            raise errors.ArgError(f"{self.name}: writes take slices of step 1")
        counts = [d.count for d in dims]
        arr = np.asarray(value)
        try:
            arr = np.broadcast_to(arr.astype(self.dtype, copy=False), result_shape(dims))
        except ValueError as e:
            raise errors.ArgError(f"{self.name}: cannot write shape {np.shape(value)} "
                                  f"into selection of shape {result_shape(dims)}: {e}") from None
        if 0 in counts:
            return
        buf = np.ascontiguousarray(arr).reshape(counts)
        _lib.call("pw_dataset_write", self._handle(), _lib.u64s([d.start for d in dims]),
                  _lib.u64s(counts), buf.ctypes.data, buf.nbytes)

    def write(self, start, data):
        """Write the C-contiguous array data (its shape is the count) at start."""
        self.file._writer(f"{self.name}.write()")
        data = np.ascontiguousarray(data, dtype=self.dtype)
        start = _nonneg_ints("start", start, self.ndim)
        count = data.shape if data.ndim == len(start) else None
        if count is None:
            raise errors.ArgError(f"{self.name}: data has {data.ndim} dimensions, the dataset {len(start)}")
        _lib.call("pw_dataset_write", self._handle(), _lib.u64s(start), _lib.u64s(count),
                  data.ctypes.data, data.nbytes)

    def append(self, data=None, *, rows=None):
        """Append rows along the first dimension and write them in one call
        (collective, as resize): data of shape (n, *shape[1:]) appends n
        rows, data of shape shape[1:] (a scalar for a 1-D dataset) one row;
        the values are converted to the dataset's dtype. ``append(rows=n)``
        only grows by n rows (a rank that owns none of them). Returns the
        index of the first new row."""
        self.file._writer(f"{self.name}.append()")
        shape = self.shape
        if data is None:
            if not isinstance(rows, numbers.Integral) or not 0 <= rows < _lib.UNLIMITED:
                raise errors.ArgError(f"{self.name}: append without data needs rows=n, got {rows!r}")
            _lib.call("pw_dataset_append", self._handle(), int(rows), None, 0)
            return shape[0]
        arr = np.ascontiguousarray(data, dtype=self.dtype)
        if arr.shape == shape[1:]:
            arr = arr.reshape((1,) + arr.shape)
        if arr.ndim != len(shape) or arr.shape[1:] != shape[1:]:
            raise errors.ArgError(f"{self.name}: cannot append data of shape {np.shape(data)} "
                                  f"to shape {shape}: rows are {shape[1:]}")
        if rows is not None and rows != arr.shape[0]:
            raise errors.ArgError(f"{self.name}: rows={rows!r}, data has {arr.shape[0]}")
        _lib.call("pw_dataset_append", self._handle(), arr.shape[0], arr.ctypes.data, arr.nbytes)
        return shape[0]

    def resize(self, size, axis=None):
        """Grow the first (unlimited) dimension: ``resize(n)``,
        ``resize(n, axis=0)`` or ``resize((n, *rest))`` with rest the
        current extents (collective)."""
        self.file._writer(f"{self.name}.resize()")
        if axis not in (None, 0):
            raise errors.ArgError(f"{self.name}: only the first dimension can be resized")
        if isinstance(size, numbers.Integral):
            n0 = int(size)
        else:
            size = _nonneg_ints("size", size, self.ndim)
            if size[1:] != self.shape[1:]:
                raise errors.ArgError(f"{self.name}: only the first dimension can be resized: "
                                      f"{self.shape} to {size}")
            n0 = size[0]
        if not 0 <= n0 < _lib.UNLIMITED:
            raise errors.ArgError(f"{self.name}: bad size {size!r}")
        _lib.call("pw_dataset_extend", self._handle(), n0)


class AttributeManager(MutableMapping):
    """A dataset's attributes: int, float and str values. Setting one is a
    writer's (collective) metadata change; ints beyond int64 are stored as
    uint64."""

    def __init__(self, ds):
        self._ds = ds

    def keys(self):
        return _names(self._ds._handle(), "pw_attr_count", "pw_attr_name")

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        n = ctypes.c_size_t()
        _lib.call("pw_attr_count", self._ds._handle(), ctypes.byref(n))
        return n.value

    def __contains__(self, key):
        return isinstance(key, str) and key in self.keys()

    def __getitem__(self, key):
        if not isinstance(key, str) or "\0" in key:
            raise KeyError(key)
        kind = ctypes.c_int()
        i, u, f = ctypes.c_int64(), ctypes.c_uint64(), ctypes.c_double()
        s = _string("pw_attr_get", self._ds._handle(), key.encode(), ctypes.byref(kind),
                    ctypes.byref(i), ctypes.byref(u), ctypes.byref(f))
        return {_lib.ATTR_INT: lambda: i.value, _lib.ATTR_UINT: lambda: u.value,
                _lib.ATTR_FLOAT: lambda: f.value, _lib.ATTR_STR: lambda: s}[kind.value]()

    def __setitem__(self, key, value):
        self._ds.file._writer(f"{self._ds.name}.attrs[{key!r}] = ...")
        if not isinstance(key, str) or not key or "\0" in key:
            raise errors.ArgError(f"bad attribute name {key!r}")
        h, k = self._ds._handle(), key.encode()
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        if isinstance(value, numbers.Integral):
            value = int(value)
            if -2**63 <= value < 2**63:
                _lib.call("pw_attr_set_i64", h, k, value)
            elif 0 <= value < 2**64:
                _lib.call("pw_attr_set_u64", h, k, value)
            else:
                raise errors.ArgError(f"attribute {key!r}: {value} does not fit 64 bits")
        elif isinstance(value, numbers.Real):
            _lib.call("pw_attr_set_f64", h, k, float(value))
        elif isinstance(value, str):
            if "\0" in value:
                raise errors.ArgError(f"attribute {key!r}: strings cannot hold NUL")
            _lib.call("pw_attr_set_str", h, k, value.encode())
        else:
            raise TypeError(f"attribute {key!r}: values are int, float or str, not {type(value).__name__}")

    def __delitem__(self, key):
        raise errors.ArgError("pwstore attributes cannot be deleted")

    def __repr__(self):
        return f"<pwstore attributes of {self._ds.name!r}: {dict(self)!r}>"


def recover(path, *, writer_gone=None, log_file=None):
    """Recover a file whose writer died: apply the last valid index of its
    metadata file to the data file. Returns the recovered tick. Raises
    WriterAliveError while the writer still heartbeats (``writer_gone``
    seconds of silence, default the library's, mean gone) or while a writer
    process, even a stopped one, still holds the data file's lock."""
    cfg = _config(writer_gone=writer_gone, log_file=log_file, comm=Comm(0, 1))
    t = ctypes.c_uint64()
    _lib.call("pw_recover", _path(path).encode(), ctypes.byref(cfg), ctypes.byref(t))
    return t.value
