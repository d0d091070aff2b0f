"""The parallel analysis example following a live writer with 2 ranks."""

import json
import os
import subprocess

import numpy as np
import pytest

import pwstore
import workload
from conftest import PY, REPO, have, run
from test_live import finish, reader_env

ANALYSIS = os.path.join(REPO, "examples", "analysis", "analysis.py")


def test_analysis_follows_pwriter_with_two_ranks(tools, tmp_path):
    path = str(tmp_path / "an.pw")
    steps, side = 15, 10
    an = subprocess.Popen([PY, ANALYSIS, "--np", "2", "--timeout", "60", path],  # waits for the file
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=reader_env())
    w = subprocess.Popen([tools.pwriter, "run", "--np", "2", "--steps", str(steps), "--side", str(side),
                          "--datasets", "1", "--tick", "20ms", "--step-delay", "30ms", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=reader_env())
    out, err = an.communicate(timeout=180)
    finish(w)
    assert an.returncode == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["step"] for l in lines] == list(range(steps))
    f00 = workload.layout("ckpt", 1, 1, side)[0]
    for l in lines:
        want = f00.expected(l["step"])
        assert l["ranks"] == 2
        assert l["max"] == want.max()
        assert abs(l["total"] - want.sum()) <= 1e-12 * abs(want.sum())
        assert abs(l["mean"] - want.mean()) <= 1e-12 * abs(want.mean())
    assert not [p for p in os.listdir(tmp_path) if ".analysis-" in p], "scratch files left behind"


def test_analysis_follows_heat3d_with_two_ranks(prefix, tmp_path):
    """heat3d (examples/heat3d, C with MPI, 2 ranks under mpirun) writes
    while the analysis follows with 2 reader ranks under mpirun: one line
    per checkpoint, the simulation's step, and a total heat equal to what
    it printed."""
    src = os.environ.get("PW_HEAT3D_SRC") or os.path.join(REPO, "examples", "heat3d", "heat3d.c")
    if not os.path.exists(src):
        pytest.skip(f"{src}: heat3d is not in this tree")
    for tool in ("mpicc", "mpirun", "pkg-config"):
        if not have(tool):
            pytest.skip(f"{tool} not installed (Debian: openmpi-bin, libopenmpi-dev, pkg-config)")
    env = reader_env(PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"),
                     OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    flags = run("pkg-config", "--cflags", "--libs", "pwstore", env=env).stdout.split()
    sim = str(tmp_path / "heat3d")
    run("mpicc", "-O2", "-o", sim, src, *flags, "-lm", env=env)
    path = str(tmp_path / "heat.pw")
    # the analysis as 2 mpirun ranks (OMPI_COMM_WORLD_RANK, PMIX_NAMESPACE), meeting on a NATS
    # server of this process; heat3d as 2 more, with a NATS server of its own
    url = pwstore.nats_serve()
    an = subprocess.Popen(["mpirun", "--oversubscribe", "-np", "2", "-x", "PW_NATS_URL", "-x", "PWSTORE_LIB",
                           "-x", "PYTHONPATH", PY, ANALYSIS, "--timeout", "90", path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env, PW_NATS_URL=url))
    s = run("mpirun", "--oversubscribe", "-np", "2", sim, "--n", "20", "--steps", "60", "--every", "5",
            "--delay-ms", "20", path, env=env, timeout=300)
    out, err = an.communicate(timeout=180)
    assert an.returncode == 0, err
    printed = {}
    for line in s.stdout.splitlines():
        w = line.split()
        if len(w) == 6 and w[0] == "step" and w[2] == "time" and w[4] == "heat":
            printed[int(w[1])] = float(w[5])
    assert len(printed) == 13, s.stdout
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["step"] for l in lines] == list(range(13))
    for l in lines:
        heat = printed[l["sim_step"]]
        assert l["heat"] == heat  # the stored heat, as printed (%.17g round-trips)
        assert abs(l["total"] - heat) <= 1e-12 * abs(heat), (l, heat)  # our own sum of the field
        assert l["ranks"] == 2 and l["max"] > 0
