#!/usr/bin/env python3
"""Reading one 1000x1000 float64 plane: Python (pwstore) against the Go API
and against numpy.load of the same bytes. Run by bench/pyread/run.

    readplane.py GOREAD_BINARY WORKDIR [--planes P] [--repeats R]

Writes a file of P planes (P, 1000, 1000) float64, chunk one plane, through
pwstore; saves plane 0 as .npy; then, with the page cache warm, times
- go/reused, go/fresh: coord ReadSlab of a plane into one reused buffer,
  into a new buffer per read (the goread peer, a separate process);
- py/read(out=): Dataset.read into one preallocated array (like go/reused);
- py/d[k]: indexing, which allocates the result (like go/fresh);
- numpy.load: of the .npy file holding the same 8 MB.
Prints a table and one JSON line; ratios are py / go of the like pair.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import pwstore  # noqa: E402


def timed(fn, repeats):
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms), min(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("goread")
    ap.add_argument("workdir")
    ap.add_argument("--planes", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=30)
    a = ap.parse_args()
    side = 1000
    path = os.path.join(a.workdir, "planes.pw")
    rng = np.random.default_rng(1)
    with pwstore.File(path, "w", tick=0.1, comm=(0, 1)) as f:
        d = f.create_dataset("/p", shape=(0, side, side), maxshape=(None, side, side),
                             chunks=(1, side, side), dtype="float64")
        for k in range(a.planes):
            d.resize(k + 1)
            d[k] = rng.random((side, side))
            f.sync()
    plane0 = None
    with pwstore.File(path, comm=(0, 1)) as f:
        d = f["/p"]
        plane0 = d[0]
        npy = os.path.join(a.workdir, "plane.npy")
        np.save(npy, plane0)
        np.testing.assert_array_equal(np.load(npy), plane0)
        go = json.loads(subprocess.run([a.goread, path, "/p", str(a.repeats)], check=True,
                                       capture_output=True, text=True).stdout)
        out = np.empty((1, side, side))
        k = [0]

        def into():
            d.read((k[0] % a.planes, 0, 0), (1, side, side), out=out)
            k[0] += 1

        def index():
            d[k[0] % a.planes]
            k[0] += 1

        for fn in (into, index):  # warm the page cache and the library
            timed(fn, 3)
        py_into = timed(into, a.repeats)
        py_index = timed(index, a.repeats)
        np.testing.assert_array_equal(d[0], plane0)
    npl = timed(lambda: np.load(npy), a.repeats)
    rows = [
        ("go/reused (ReadSlab, one buffer)", go["reused_ms_median"], go["reused_ms_min"]),
        ("py/read(out=) (one array)", *py_into),
        ("go/fresh (ReadSlab, new buffer)", go["fresh_ms_median"], go["fresh_ms_min"]),
        ("py/d[k] (new array)", *py_index),
        ("numpy.load (.npy, new array)", *npl),
    ]
    print(f"one 1000x1000 float64 plane (8 MB), {a.repeats} reads each, page cache warm")
    print(f"{'':36} {'median ms':>10} {'min ms':>8} {'GB/s':>6}")
    for name, med, mn in rows:
        print(f"{name:36} {med:10.2f} {mn:8.2f} {8e6 / med / 1e6:6.2f}")
    res = {"go_reused_ms": go["reused_ms_median"], "py_into_ms": py_into[0],
           "go_fresh_ms": go["fresh_ms_median"], "py_index_ms": py_index[0], "npload_ms": npl[0],
           "ratio_into_vs_go": py_into[0] / go["reused_ms_median"],
           "ratio_index_vs_go": py_index[0] / go["fresh_ms_median"],
           "ratio_index_vs_npload": py_index[0] / npl[0],
           # the fastest of the reads: what is left when nothing else competed for the CPUs
           "min_ratio_into_vs_go": py_into[1] / go["reused_ms_min"],
           "min_ratio_index_vs_go": py_index[1] / go["fresh_ms_min"],
           "min_ratio_index_vs_npload": py_index[1] / npl[1]}
    print(f"py/go, medians: read(out=) {res['ratio_into_vs_go']:.2f}x, d[k] {res['ratio_index_vs_go']:.2f}x; "
          f"minima: {res['min_ratio_into_vs_go']:.2f}x, {res['min_ratio_index_vs_go']:.2f}x (target <= 1.5x)")
    print(f"d[k] / numpy.load: medians {res['ratio_index_vs_npload']:.2f}x, minima {res['min_ratio_index_vs_npload']:.2f}x")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
