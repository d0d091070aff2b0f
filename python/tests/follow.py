"""Follow a pwriter ckpt file being written, as one reader rank, checking
every element of every complete step against the workload's values.

    python follow.py FILE DATASETS ELEMS SIDE

The rank comes from the environment (PW_RANK/PW_SIZE/PW_JOB/PW_NATS_URL);
rank r of M checks the field planes x with x % M == r. Prints one JSON
object: the (tick, steps complete, first-dimension length) adopted at each
tick, and the counts of checked and wrong values.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pwstore  # noqa: E402
import workload  # noqa: E402


def main():
    path, datasets, elems, side = sys.argv[1], *map(int, sys.argv[2:5])
    rank, size = int(os.environ.get("PW_RANK", 0)), int(os.environ.get("PW_SIZE", 1))
    lay = workload.layout("ckpt", datasets, elems, side)
    seen, checked, wrong, lagging, done = [], 0, 0, 0, 0
    with pwstore.File(path, open_wait=60) as f:
        while True:
            try:
                t = f.tick()
            except pwstore.LaggingError:
                lagging += 1  # fell behind: never wrong data; catch up at the next tick
                continue
            closed = f.writer_closed
            try:
                n = f[workload.TIME].attrs[workload.STEPS_ATTR]
            except pwstore.NotFoundError:  # the datasets are not created yet
                n = 0
            seen.append([t, n, f[lay[0].path].shape[0] if n else 0])
            try:
                for s in range(done, n):
                    for l in lay:
                        if l.path == workload.TIME:
                            continue
                        want = l.expected(s)
                        if l.step and len(l.step) == 3:
                            rows = slice(rank, None, size)
                            got = f[l.path][s, rows]
                            want = want[0, rows]
                        elif rank == 0:
                            got = f[l.path][s * l.rows:(s + 1) * l.rows]
                        else:
                            continue
                        checked += want.size
                        wrong += int((got != want).sum())
                done = n
            except pwstore.LaggingError:
                lagging += 1
            if closed and done == n:
                break
    print(json.dumps({"rank": rank, "seen": seen, "checked": checked, "wrong": wrong,
                      "steps": done, "lagging": lagging}))


if __name__ == "__main__":
    main()
