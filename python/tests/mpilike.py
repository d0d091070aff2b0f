"""One rank of a reader whose comm looks like mpi4py's (Get_rank, Get_size,
bcast), its bcast going through files: mpi4py is not installed here.

    python mpilike.py DIR RANK SIZE FILE
"""

import json
import os
import pickle
import sys
import time

import pwstore


class FileComm:
    def __init__(self, dir, rank, size):
        self.dir, self.rank, self.size, self.n = dir, rank, size, 0

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def bcast(self, obj, root=0):
        name = os.path.join(self.dir, f"bcast{self.n}")
        self.n += 1
        if self.rank == root:
            with open(name + ".tmp", "wb") as fh:
                pickle.dump(obj, fh)
            os.replace(name + ".tmp", name)
            return obj
        deadline = time.monotonic() + 60
        while not os.path.exists(name):
            if time.monotonic() > deadline:
                raise TimeoutError("bcast: root never wrote " + name)
            time.sleep(0.01)
        with open(name, "rb") as fh:
            return pickle.load(fh)


def main():
    dir, rank, size, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    comm = FileComm(dir, rank, size)
    with pwstore.File(path, comm=comm) as f:
        t = f.tick()
        out = {"tick": t, "closed": f.writer_closed, "names": list(f),
               "sum": float(f["/fields/f00"][rank].sum())}
        out.update(job=f.comm.job, url=f.comm.nats_url)  # what rank 0 told every rank
    print(json.dumps(out))


if __name__ == "__main__":
    main()
