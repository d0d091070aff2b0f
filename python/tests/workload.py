"""The pwriter workloads in numpy, to check values without preader.

A port of internal/tool/workload: Value(d, s, e) = base + e*stride (mod
2^64), with base = mix(mix(d) ^ s) and stride = mix(base) | 1 (mix is
splitmix64's finaliser) and e the element's linear index within the step,
narrowed to the element type; Layout lists the datasets.
"""

import time
from typing import NamedTuple

import numpy as np

U = np.uint64


def _mix(x):
    with np.errstate(over="ignore"):
        x = x + U(0x9E3779B97F4A7C15)
        x = (x ^ (x >> U(30))) * U(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> U(27))) * U(0x94D049BB133111EB)
        return x ^ (x >> U(31))


def values(d, s, e):
    """Value(d, s, e) for the uint64 array of element numbers e."""
    base = _mix(_mix(np.array([d], U)) ^ U(s))
    stride = _mix(base) | U(1)
    with np.errstate(over="ignore"):
        return base + np.asarray(e, U) * stride


def narrow(v, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.int32:
        return (v >> U(33)).astype(np.int32)
    if dtype == np.int64:
        return (v >> U(1)).astype(np.int64)
    if dtype == np.float64:
        return ((v >> U(12)) | U(0x3FF0000000000000)).view(np.float64)
    raise ValueError(dtype)


class DS(NamedTuple):
    id: int
    path: str
    dtype: str
    rows: int
    step: tuple
    chunk: tuple

    def expected(self, s):
        """The values of step s: shape (rows, *step)."""
        n = self.rows * int(np.prod(self.step, dtype=np.int64))
        return narrow(values(self.id, s, np.arange(n, dtype=U)), self.dtype).reshape((self.rows,) + self.step)


def _chunk_rows(rows, elem):
    per = 4096 // elem
    return rows if rows >= per else per // rows * rows


TIME = "/steps/time"
STEPS_ATTR = "steps_complete"


def layout(kind="ckpt", datasets=3, elems=1, side=32):
    out = []
    if kind == "ckpt":
        for i in range(datasets):
            out.append(("/fields/f%02d" % i, "float64", 1, (side,) * 3, (1,) + (side,) * 3))
        out.append(("/series/energy", "float64", elems, (), (_chunk_rows(elems, 8),)))
    elif kind == "rr":
        for i in range(datasets):
            out.append(("/rr/d%05d" % i, "int32", elems, (), (_chunk_rows(elems, 4),)))
    elif kind == "planes":
        for i in range(datasets):
            out.append(("/planes/p%02d" % i, "int32", 1, (side, side), (1, side, side)))
    out.append((TIME, "int64", 1, (), (512,)))
    return [DS(i, *t) for i, t in enumerate(out)]


def check_dataset(d, lay, steps):
    """Compare the first `steps` steps of pwstore Dataset d with the
    workload's values; return the number of wrong elements."""
    if lay.path == TIME:
        return 0
    got = d[: steps * lay.rows]
    bad = 0
    for s in range(steps):
        want = lay.expected(s)
        bad += int(np.count_nonzero(got[s * lay.rows:(s + 1) * lay.rows] != want))
    return bad


def write_ckpt(f, steps, datasets=2, elems=3, side=4, rank=0, size=1):
    """Write the ckpt workload through pwstore (a File in mode "w") exactly
    as pwriter does, so that preader verify can check it: as rank of size
    ranks, every rank making the metadata calls, each writing its block of
    planes of the fields, rank 0 the series."""
    lay = layout("ckpt", datasets, elems, side)
    ds = []
    for l in lay:
        d = f.create_dataset(l.path, shape=(0,) + l.step, maxshape=(None,) + l.step,
                             chunks=l.chunk, dtype=l.dtype)
        d.attrs["dtype"] = l.dtype
        ds.append(d)
    t = ds[-1]
    for k, v in (("workload", "ckpt"), ("datasets", datasets), ("elems", elems), ("side", side),
                 ("steps_total", steps), (STEPS_ATTR, 0)):
        t.attrs[k] = v
    for s in range(steps):
        for l, d in zip(lay, ds):
            d.resize((s + 1) * l.rows)
            if l.step:  # a field: split along its first spatial axis
                lo, hi = side * rank // size, side * (rank + 1) // size
                d[s, lo:hi] = l.expected(s)[0, lo:hi]
            elif rank != 0:
                continue
            elif l.path == TIME:
                d[s] = time.time_ns()
            else:
                d[s * l.rows:(s + 1) * l.rows] = l.expected(s)
        t.attrs[STEPS_ATTR] = s + 1
        f.sync()
    return lay
