#!/usr/bin/env python3
"""A parallel analysis job that follows a simulation's checkpoint file live.

M reader ranks follow FILE as one collective reader (every rank ticks
together and adopts the same snapshot). For every new complete step each
rank reads its share of the field (a contiguous block of planes along the
first spatial axis, straight into numpy) and computes partial statistics;
rank 0 combines them and prints one JSON line per step:

    {"step": 3, "mean": ..., "max": ..., "total": ..., "ranks": 2, "sim_step": 30, "heat": ...}

``total`` is the field's sum (the heat, for a temperature field), ``mean``
total / elements. Launch:

    analysis.py --np 2 FILE          # starts 2 ranks here, with a NATS server
    srun -n 2 analysis.py FILE       # SLURM_PROCID/NTASKS; PW_NATS_URL set
    mpirun -np 2 analysis.py FILE    # OMPI_COMM_WORLD_RANK/SIZE; PW_NATS_URL set
    PW_RANK=r PW_SIZE=M PW_JOB=j PW_NATS_URL=u analysis.py FILE   # by hand

Combining partial results needs no MPI: each rank writes its partial sums
for a step as a small JSON file into a scratch directory beside FILE
(FILE.analysis-JOB/, on the same shared file system as FILE), atomically
(write, then rename); rank 0 waits for all M, combines them in rank order
(so the result does not depend on timing), prints, and deletes them.

What is a "complete step": the field's first dimension counts checkpoints;
the first N are complete once the field (or the dataset named by
--complete, default /steps/time when it exists, as pwriter writes it) has an
attribute "checkpoints" (heat3d) or "steps_complete" (pwriter) equal to N;
without either, all but the newest row (all of them once the writer closed).
The field defaults to the first of /T, /fields/T, /temperature, /fields/f00
that exists (--field to choose). When the file has /step and /heat series
(heat3d's), each line also carries the simulation's step number
("sim_step") and the heat it stored for that checkpoint ("heat"), so
"total" can be compared with the simulation's own figure.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np

try:
    import pwstore
except ImportError:  # run from the source tree without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import pwstore

FIELDS = ("/T", "/fields/T", "/temperature", "/fields/f00")
MARKERS = ("/steps/time",)
COMPLETE_ATTRS = ("checkpoints", "steps_complete")


def rank_env():
    """(rank, size, job) as libpwstore finds them."""
    for r, s, j in (("PW_RANK", "PW_SIZE", "PW_JOB"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_ID"),
                    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_NAMESPACE")):
        if r in os.environ and s in os.environ:
            return int(os.environ[r]), int(os.environ[s]), os.environ.get("PW_JOB") or os.environ.get(j, "job")
    return 0, 1, "serial"


def launch(np_, argv):
    """Start np_ ranks of this script with a NATS server of our own."""
    env = dict(os.environ, PW_NATS_URL=os.environ.get("PW_NATS_URL") or pwstore.nats_serve(),
               PW_SIZE=str(np_), PW_JOB=os.environ.get("PW_JOB") or "analysis-" + uuid.uuid4().hex[:8])
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv,
                              env=dict(env, PW_RANK=str(r))) for r in range(np_)]
    rc = 0
    for p in procs:
        rc = rc or p.wait()
    return rc


def share(n, rank, size):
    """Rank's contiguous block [lo, hi) of n planes."""
    return n * rank // size, n * (rank + 1) // size


class Reduce:
    """Partial sums through files in a scratch directory."""

    def __init__(self, path, rank, size, job, timeout):
        self.dir = f"{path}.analysis-{job}"
        self.rank, self.size, self.timeout = rank, size, timeout
        os.makedirs(self.dir, exist_ok=True)

    def put(self, step, part):
        name = os.path.join(self.dir, f"s{step}.r{self.rank}")
        with open(name + ".tmp", "w") as fh:
            json.dump(part, fh)
        os.replace(name + ".tmp", name + ".json")

    def gather(self, step):
        """Rank 0: the parts of all ranks for step, in rank order."""
        names = [os.path.join(self.dir, f"s{step}.r{r}.json") for r in range(self.size)]
        deadline = time.monotonic() + self.timeout
        while not all(os.path.exists(n) for n in names):
            if time.monotonic() > deadline:
                raise TimeoutError(f"step {step}: partial results of some ranks missing after {self.timeout}s")
            time.sleep(0.005)
        parts = []
        for n in names:
            with open(n) as fh:
                parts.append(json.load(fh))
            os.remove(n)
        return parts

    def close(self):
        if self.rank == 0:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass


def pick(f, wanted, candidates):
    names = set(f)
    if wanted:
        return wanted if wanted.startswith("/") else "/" + wanted
    for c in candidates:
        if c in names:
            return c
    return None


def complete_steps(f, marker, closed):
    d = f[marker]
    for a in COMPLETE_ATTRS:
        try:
            return int(d.attrs[a])
        except KeyError:
            pass
    n = f[marker].shape[0]
    return n if closed else max(n - 1, 0)


def series(f, name, i):
    """Element i of a 1-D series dataset, or None without one."""
    if name not in f or f[name].shape[0] <= i:
        return None
    return f[name][i].item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--np", type=int, default=0, help="start this many ranks here (local launcher)")
    ap.add_argument("--field", help="field dataset (default: the first of %s)" % ", ".join(FIELDS))
    ap.add_argument("--complete", help="dataset whose steps_complete attribute or length counts complete steps")
    ap.add_argument("--timeout", type=float, default=120, help="give up after this many seconds without a new step")
    ap.add_argument("--open-wait", type=float, default=60, help="wait this long for the file to appear")
    args = ap.parse_args(argv)
    if args.np:
        rest = [a for a in (argv if argv is not None else sys.argv[1:])]
        i = rest.index("--np")
        return launch(args.np, rest[:i] + rest[i + 2:])

    rank, size, job = rank_env()
    red = Reduce(args.file, rank, size, job, args.timeout)
    done, field, marker = 0, None, None
    last_new = time.monotonic()
    with pwstore.File(args.file, open_wait=args.open_wait) as f:
        while True:
            try:
                f.tick()
            except pwstore.LaggingError:
                continue  # we fell behind: the next tick catches up
            closed = f.writer_closed
            if field is None:
                field = pick(f, args.field, FIELDS)
                marker = pick(f, args.complete, MARKERS) or field
            n = complete_steps(f, marker, closed) if field and field in f else 0
            for s in range(done, n):
                d = f[field]
                lo, hi = share(d.shape[1], rank, size)
                block = d[s, lo:hi]  # one contiguous read into a new array
                part = {"sum": float(block.sum(dtype=np.float64)), "max": float(block.max()) if block.size else None,
                        "n": int(block.size)}
                red.put(s, part)
                if rank == 0:
                    parts = red.gather(s)
                    total = sum(p["sum"] for p in parts)
                    count = sum(p["n"] for p in parts)
                    mx = max(p["max"] for p in parts if p["max"] is not None)
                    line = {"step": s, "mean": total / count, "max": mx, "total": total, "ranks": size}
                    for key, name in (("sim_step", "/step"), ("heat", "/heat")):
                        v = series(f, name, s)
                        if v is not None:
                            line[key] = v
                    print(json.dumps(line), flush=True)
            if n > done:
                done, last_new = n, time.monotonic()
            if closed and done >= n:
                break
            if time.monotonic() - last_new > args.timeout:
                print(f"analysis: no new step for {args.timeout}s", file=sys.stderr)
                return 1
            time.sleep(0.01)
    red.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
