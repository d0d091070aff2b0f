#!/usr/bin/python3
"""HDF5 peer workloads for the pwstore benchmark, through h5py (HDF5 1.10+).

Two workloads from the performance tests of "RFC: VFD SWMR" (section 5.3):

  rr      D extensible 1-D datasets; P passes, each appending E elements to every dataset
          in turn (round robin).
  planes  D datasets of shape (n, S, S) int32, chunk (1, S, S), first dimension unlimited;
          each pass appends one S x S plane to every dataset in turn.

Modes:
  --swmr     the file is written with libver='latest' in SWMR mode and flushed after every
             pass, while a reader process (this script, run again) opens it with swmr=True,
             polls the last dataset with refresh() and notes when it first sees each pass.
             Latency is from the end of a pass's writes (before the flush) to the reader
             seeing that pass's data, on the monotonic clock the two processes share.
  --no-swmr  plain HDF5 writes (no flushes until close), no reader; --libver picks the file
             format (default: the library's default; latest: the format SWMR uses, with
             extensible-array chunk indexes).

Every value written is a function of (pass, dataset): in rr, element value = pass * D +
dataset; in planes, the first two elements of each plane are (pass, dataset). The reader
checks them on every pass it sees and again for all datasets at the end.

The writer calls h5py's low-level API (set_extent, then write through a hyperslab), since the
high-level `ds.resize(); ds[a:b] = x` adds about 200 us of Python per append, which measured
here is several times HDF5's own cost; the figures are then HDF5's, not h5py's.

Output: one JSON line on stdout. MB are 10^6 bytes. Run with Debian's /usr/bin/python3
(python3-h5py), e.g.:

  /usr/bin/python3 h5bench.py rr --swmr --datasets 100 --passes 100
  /usr/bin/python3 h5bench.py planes --no-swmr --planes 20
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
from h5py import h5s

READY = "ready"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="workload", required=True, metavar="{rr,planes}")

    def common(sp):
        m = sp.add_mutually_exclusive_group()
        m.add_argument("--swmr", dest="swmr", action="store_true", default=True,
                       help="SWMR writer + polling reader process (default)")
        m.add_argument("--no-swmr", dest="swmr", action="store_false",
                       help="plain writes, no reader")
        sp.add_argument("--libver", choices=["default", "latest"], default="default",
                        help="file format for --no-swmr (SWMR always uses latest)")
        sp.add_argument("--dir", help="where to make the run's temporary directory (default: $TMPDIR or /tmp)")
        sp.add_argument("--keep", action="store_true", help="keep the file afterwards")
        sp.add_argument("--poll", type=float, default=0.0005,
                        help="reader sleep between polls, seconds (default 0.0005)")
        sp.add_argument("--reader-timeout", type=float, default=300.0,
                        help="seconds the reader waits for the last pass (default 300)")

    rr = sub.add_parser("rr", help="round robin small appends")
    rr.add_argument("--datasets", type=int, default=100)
    rr.add_argument("--passes", type=int, default=100)
    rr.add_argument("--elems", type=int, default=1, help="elements appended per dataset per pass")
    rr.add_argument("--chunk", type=int, default=64, help="chunk size in elements")
    common(rr)

    pl = sub.add_parser("planes", help="(n,S,S) int32 planes")
    pl.add_argument("--datasets", type=int, default=10)
    pl.add_argument("--planes", type=int, default=20, help="planes per dataset")
    pl.add_argument("--side", type=int, default=1000, help="plane side S")
    common(pl)

    # Internal: the SWMR reader process.
    rd = sub.add_parser("_reader")
    rd.add_argument("kind", choices=["rr", "planes"])
    rd.add_argument("path")
    rd.add_argument("--datasets", type=int, required=True)
    rd.add_argument("--passes", type=int, required=True)
    rd.add_argument("--elems", type=int, default=1)
    rd.add_argument("--poll", type=float, required=True)
    rd.add_argument("--reader-timeout", type=float, required=True)

    a = p.parse_args(argv)
    for opt in ("datasets", "passes", "elems", "chunk", "planes", "side"):
        v = getattr(a, opt, None)
        if v is not None and v < 1:
            p.error(f"--{opt} must be at least 1, not {v}")
    return a


def libver(a):
    return "latest" if a.swmr else a.libver


def open_writer(a, path):
    if libver(a) == "latest":
        return h5py.File(path, "w", libver="latest")
    return h5py.File(path, "w")


def name(d):
    return f"d{d:05d}"


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def latency_stats(written, seen):
    """Milliseconds from each pass's write time to the time the reader first saw it."""
    lat = sorted((seen[i] - written[i]) * 1000.0 for i in range(len(written)) if seen[i] is not None)
    if not lat:
        return {"n": 0, "missed": len(seen)}
    return {
        "n": len(lat),
        "missed": sum(1 for s in seen if s is None),
        "min_ms": round(lat[0], 3),
        "mean_ms": round(sum(lat) / len(lat), 3),
        "p50_ms": round(percentile(lat, 50), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(lat[-1], 3),
    }


# ---------------------------------------------------------------------------------------
# Writers


class Reader:
    """The SWMR reader process: started once the writer is in SWMR mode."""

    def __init__(self, kind, path, datasets, passes, elems, a):
        cmd = [sys.executable, os.path.abspath(__file__), "_reader", kind, path,
               "--datasets", str(datasets), "--passes", str(passes), "--elems", str(elems),
               "--poll", str(a.poll), "--reader-timeout", str(a.reader_timeout)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != READY:
            self.proc.kill()
            raise RuntimeError(f"reader process did not start (said {line!r}, exit {self.proc.wait()})")

    def result(self):
        """The reader's JSON report; it exits 1 after reporting errors or missed passes."""
        out, _ = self.proc.communicate()
        lines = out.strip().splitlines()
        if not lines:
            raise RuntimeError(f"reader process exited {self.proc.returncode} without a report")
        return json.loads(lines[-1])


def write_rr(a, path):
    D, P, E = a.datasets, a.passes, a.elems
    t0 = time.monotonic()
    f = open_writer(a, path)
    dsets = [f.create_dataset(name(d), shape=(0,), maxshape=(None,), dtype="<i8",
                              chunks=(a.chunk,)) for d in range(D)]
    reader = None
    if a.swmr:
        f.swmr_mode = True
        f.flush()
    create_s = time.monotonic() - t0
    if a.swmr:
        reader = Reader("rr", path, D, P, E, a)

    written = []
    buf = np.empty(E, dtype="<i8")
    mspace = h5s.create_simple((E,))
    ids = [ds.id for ds in dsets]
    t1 = time.monotonic()
    for p in range(P):
        for d, dsid in enumerate(ids):
            buf.fill(p * D + d)
            dsid.set_extent(((p + 1) * E,))
            fspace = dsid.get_space()
            fspace.select_hyperslab((p * E,), (E,))
            dsid.write(mspace, fspace, buf)
        written.append(time.monotonic())
        if a.swmr:
            f.flush()
    f.close()
    seconds = time.monotonic() - t1

    n = D * P
    out = {
        "workload": "rr", "mode": "swmr" if a.swmr else "no-swmr",
        "datasets": D, "passes": P, "elems": E, "chunk": a.chunk,
        "appends": n, "seconds": round(seconds, 6), "create_seconds": round(create_s, 6),
        "appends_per_s": round(n / seconds, 1), "bytes": n * E * 8,
        "file_bytes": os.path.getsize(path),
    }
    if reader:
        r = reader.result()
        out["latency"] = latency_stats(written, r["seen"])
        out["reader_polls"] = r["polls"]
        out["reader_errors"] = r["errors"]
    return out


def write_planes(a, path):
    D, N, S = a.datasets, a.planes, a.side
    t0 = time.monotonic()
    f = open_writer(a, path)
    dsets = [f.create_dataset(name(d), shape=(0, S, S), maxshape=(None, S, S), dtype="<i4",
                              chunks=(1, S, S)) for d in range(D)]
    if a.swmr:
        f.swmr_mode = True
        f.flush()
    create_s = time.monotonic() - t0
    reader = Reader("planes", path, D, N, 1, a) if a.swmr else None

    plane = np.arange(S * S, dtype="<i4").reshape(1, S, S)
    flat = plane.reshape(-1)
    mspace = h5s.create_simple((1, S, S))
    ids = [ds.id for ds in dsets]
    written = []
    t1 = time.monotonic()
    for p in range(N):
        for d, dsid in enumerate(ids):
            flat[0] = p
            if flat.size > 1:
                flat[1] = d
            dsid.set_extent((p + 1, S, S))
            fspace = dsid.get_space()
            fspace.select_hyperslab((p, 0, 0), (1, S, S))
            dsid.write(mspace, fspace, plane)
        written.append(time.monotonic())
        if a.swmr:
            f.flush()
    f.close()
    seconds = time.monotonic() - t1

    nbytes = D * N * S * S * 4
    out = {
        "workload": "planes", "mode": "swmr" if a.swmr else "no-swmr",
        "datasets": D, "planes": N, "side": S,
        "seconds": round(seconds, 6), "create_seconds": round(create_s, 6),
        "bytes": nbytes, "mb_per_s": round(nbytes / 1e6 / seconds, 1),
        "file_bytes": os.path.getsize(path),
    }
    if reader:
        r = reader.result()
        out["latency"] = latency_stats(written, r["seen"])
        out["reader_polls"] = r["polls"]
        out["reader_errors"] = r["errors"]
    return out


# ---------------------------------------------------------------------------------------
# The SWMR reader


def rr_check(ds, p, D, d, E):
    """Errors in the E elements pass p appended to dataset d."""
    got = ds[p * E:(p + 1) * E]
    return int(np.count_nonzero(got != p * D + d))


def planes_check(ds, p, d):
    got = ds[p, 0, 0:2]
    want = [p, d][:got.size]
    return int(sum(1 for g, w in zip(got.tolist(), want) if g != w))


def run_reader(a):
    D, P, E = a.datasets, a.passes, a.elems
    f = h5py.File(a.path, "r", libver="latest", swmr=True)
    dsets = [f[name(d)] for d in range(D)]
    last = dsets[-1]
    print(READY, flush=True)

    seen = [None] * P
    errors = 0
    polls = 0
    have = 0  # passes seen so far
    deadline = time.monotonic() + a.reader_timeout
    while have < P and time.monotonic() < deadline:
        last.refresh()
        polls += 1
        n = last.shape[0] // E if a.kind == "rr" else last.shape[0]
        if n > have:
            now = time.monotonic()
            for p in range(have, min(n, P)):
                seen[p] = now
            # Check the newest pass's data in the dataset that showed it.
            errors += rr_check(last, n - 1, D, D - 1, E) if a.kind == "rr" else planes_check(last, n - 1, D - 1)
            have = n
        elif a.poll > 0:
            time.sleep(a.poll)

    # All passes (or the timeout): check every dataset's data once.
    for d, ds in enumerate(dsets):
        ds.refresh()
        n = ds.shape[0] // E if a.kind == "rr" else ds.shape[0]
        if n < have:
            errors += 1
        for p in range(min(n, P)):
            errors += rr_check(ds, p, D, d, E) if a.kind == "rr" else planes_check(ds, p, d)
    f.close()
    print(json.dumps({"seen": seen, "polls": polls, "errors": errors, "passes_seen": have}), flush=True)
    return 0 if have == P and errors == 0 else 1


def main(argv):
    a = parse_args(argv)
    if a.workload == "_reader":
        return run_reader(a)

    try:
        tmp = tempfile.mkdtemp(prefix="h5bench-", dir=a.dir)
    except OSError as e:
        print(json.dumps({"workload": a.workload, "error": f"cannot create a directory for the file: {e}"}))
        return 1
    path = os.path.join(tmp, f"{a.workload}.h5")
    try:
        out = write_rr(a, path) if a.workload == "rr" else write_planes(a, path)
    except Exception as e:  # one clear line, non-zero exit
        print(json.dumps({"workload": a.workload, "error": f"{type(e).__name__}: {e}"}))
        return 1
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out.update({"peer": "hdf5", "hdf5": h5py.version.hdf5_version, "h5py": h5py.version.version,
                "libver": libver(a)})
    if a.keep:
        out["file"] = path
    print(json.dumps(out), flush=True)
    return 1 if out.get("reader_errors") or (out.get("latency", {}).get("missed")) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
