"""Following a live writer: every value right; two reader ranks adopt the
same ticks."""

import json
import os
import subprocess
import uuid

import pwstore
from conftest import PY

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, DATASETS, ELEMS, SIDE = 40, 2, 3, 8


def start_writer(tools, path, env=None):
    return subprocess.Popen(
        [tools.pwriter, "run", "--np", "2", "--steps", str(STEPS), "--datasets", str(DATASETS),
         "--elems", str(ELEMS), "--side", str(SIDE), "--tick", "20ms", "--step-delay", "40ms", path],
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
    out, = run_ranks([[PY, os.path.join(HERE, "follow.py"), path, str(DATASETS), str(ELEMS), str(SIDE)]],
                     [reader_env()], lambda: start_writer(tools, path, env=reader_env()))
    assert out["steps"] == STEPS and out["wrong"] == 0
    assert out["checked"] == STEPS * (DATASETS * SIDE**3 + ELEMS)
    ticks = [s[0] for s in out["seen"]]
    assert ticks == sorted(ticks) and len(set(s[1] for s in out["seen"])) > 2, "did not follow it live"


def run_ranks(argvs, envs, writer=None):
    """Run one process per argv at once, then start writer() if given (the
    readers wait for the file, so they follow all of it live); return the
    processes' JSON outputs, in order."""
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
             for a, e in zip(argvs, envs)]
    w = writer() if writer else None
    outs = []
    for p in procs:
        o, e = p.communicate(timeout=180)
        assert p.returncode == 0, e
        outs.append(json.loads(o))
    if w:
        finish(w)
    return outs


def test_two_reader_ranks_adopt_the_same_ticks(tools, tmp_path):
    path = str(tmp_path / "coll.pw")
    url = pwstore.nats_serve()
    job = "pytest-" + uuid.uuid4().hex[:8]
    a, b = run_ranks([[PY, os.path.join(HERE, "follow.py"), path, str(DATASETS), str(ELEMS), str(SIDE)]] * 2,
                     [reader_env(PW_RANK=str(r), PW_SIZE="2", PW_JOB=job, PW_NATS_URL=url) for r in range(2)],
                     lambda: start_writer(tools, path, env=reader_env()))
    assert a["rank"] == 0 and b["rank"] == 1
    assert a["seen"] == b["seen"], "ranks adopted different snapshots"
    assert len(set(s[0] for s in a["seen"])) > 2, "did not follow it live"
    assert a["wrong"] == 0 and b["wrong"] == 0
    assert a["steps"] == b["steps"] == STEPS
    # the ranks split the fields' planes between them: together all of them
    assert a["checked"] + b["checked"] == STEPS * (DATASETS * SIDE**3 + ELEMS)


def test_mpi4py_style_comm(ckpt_file, tmp_path):
    """File(comm=<an mpi4py-like communicator>): rank 0 serves NATS and names
    the job through comm.bcast; the ranks form one collective reader."""
    a, b = run_ranks([[PY, os.path.join(HERE, "mpilike.py"), str(tmp_path), str(r), "2", ckpt_file] for r in range(2)],
                     [reader_env()] * 2)
    assert a["tick"] == b["tick"] and a["names"] == b["names"] and a["closed"] and b["closed"]
    assert a["job"] == b["job"] and a["job"].startswith("py-") and a["url"].startswith("nats://")
    assert a["sum"] != b["sum"]  # each read its own step
