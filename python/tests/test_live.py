"""Following a live writer: every value right; two reader ranks adopt the
same ticks."""

import json
import os
import subprocess
import sys
import uuid

import pytest

import pwstore
from conftest import PY, run

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, DATASETS, ELEMS, SIDE = 40, 2, 3, 8


def start_writer(tools, path, env=None):
    return subprocess.Popen(
        [tools.pwriter, "run", "--np", "2", "--steps", str(STEPS), "--datasets", str(DATASETS),
         "--elems", str(ELEMS), "--side", str(SIDE), "--tick", "20ms", "--step-delay", "25ms", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def reader_env(**kw):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PW_RANK", "PW_SIZE", "PW_JOB", "PW_NATS", "SLURM_", "OMPI_", "PMIX_"))}
    env.update(PYTHONPATH=os.path.join(HERE, ".."), **kw)
    return env


def finish(w):
    _, err = w.communicate(timeout=120)
    assert w.returncode == 0, err


def test_follow_live_writer_zero_wrong_values(tools, tmp_path):
    path = str(tmp_path / "live.pw")
    w = start_writer(tools, path, env=reader_env())
    r = run(PY, os.path.join(HERE, "follow.py"), path, DATASETS, ELEMS, SIDE, env=reader_env(), timeout=180)
    finish(w)
    out = json.loads(r.stdout)
    assert out["steps"] == STEPS and out["wrong"] == 0
    assert out["checked"] == STEPS * (DATASETS * SIDE**3 + ELEMS)
    ticks = [s[0] for s in out["seen"]]
    assert ticks == sorted(ticks) and len(set(s[1] for s in out["seen"])) > 2, "did not follow it live"


def test_two_reader_ranks_adopt_the_same_ticks(tools, tmp_path):
    path = str(tmp_path / "coll.pw")
    url = pwstore.nats_serve()
    job = "pytest-" + uuid.uuid4().hex[:8]
    w = start_writer(tools, path, env=reader_env())
    ranks = [subprocess.Popen([PY, os.path.join(HERE, "follow.py"), path, str(DATASETS), str(ELEMS), str(SIDE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=reader_env(PW_RANK=str(r), PW_SIZE="2", PW_JOB=job, PW_NATS_URL=url))
             for r in range(2)]
    outs = []
    for p in ranks:
        o, e = p.communicate(timeout=180)
        assert p.returncode == 0, e
        outs.append(json.loads(o))
    finish(w)
    a, b = outs
    assert a["rank"] == 0 and b["rank"] == 1
    assert a["seen"] == b["seen"], "ranks adopted different snapshots"
    assert len(set(s[0] for s in a["seen"])) > 2, "did not follow it live"
    assert a["wrong"] == 0 and b["wrong"] == 0
    assert a["steps"] == b["steps"] == STEPS
    # the ranks split the fields' planes between them: together all of them
    assert a["checked"] + b["checked"] == STEPS * (DATASETS * SIDE**3 + ELEMS)


class ThreadComm:
    """The parts of an mpi4py communicator File uses (Get_rank, Get_size,
    bcast), for ranks that are threads of this process."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def bcast(self, obj, root=0):
        if self.rank == root:
            self.shared["v"] = obj
        self.shared["barrier"].wait()
        v = self.shared["v"]
        self.shared["barrier"].wait()
        return v


def test_mpi4py_style_comm_two_thread_ranks(ckpt_file, clean_env):
    """File(comm=<mpi4py-like>): rank 0 serves NATS and names the job, the
    ranks form one collective reader and adopt the same tick."""
    import threading

    shared = {"barrier": threading.Barrier(2)}
    got, errs = [None, None], []

    def rank(r):
        try:
            with pwstore.File(ckpt_file, comm=ThreadComm(r, 2, shared)) as f:
                t = f.tick()
                got[r] = (t, f.writer_closed, list(f), f["/fields/f00"][r].sum())
        except Exception as e:  # reported below
            errs.append(e)

    th = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    assert not errs, errs
    assert got[0][:3] == got[1][:3] and got[0][1] is True
    assert got[0][3] != got[1][3]  # each read its own step
