"""One rank of a parallel Python writer of the ckpt workload.

    python pwrite.py FILE RANK SIZE JOB NATS_URL
"""

import sys

import pwstore
import workload


def main():
    path, rank, size, job, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    with pwstore.File(path, "w", tick=0.05, comm=(rank, size, job, url)) as f:
        workload.write_ckpt(f, steps=4, datasets=2, elems=2, side=5, rank=rank, size=size)
    print("{}")


if __name__ == "__main__":
    main()
