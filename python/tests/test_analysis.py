"""The parallel analysis example following a live writer with 2 ranks."""

import json
import os
import subprocess

import numpy as np

import workload
from conftest import PY, REPO
from test_live import finish, reader_env

ANALYSIS = os.path.join(REPO, "examples", "analysis", "analysis.py")


def test_analysis_follows_pwriter_with_two_ranks(tools, tmp_path):
    path = str(tmp_path / "an.pw")
    steps, side = 15, 10
    w = subprocess.Popen([tools.pwriter, "run", "--np", "2", "--steps", str(steps), "--side", str(side),
                          "--datasets", "1", "--tick", "20ms", "--step-delay", "30ms", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=reader_env())
    r = subprocess.run([PY, ANALYSIS, "--np", "2", "--timeout", "60", path], capture_output=True, text=True,
                       env=reader_env(), timeout=180)
    finish(w)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["step"] for l in lines] == list(range(steps))
    f00 = workload.layout("ckpt", 1, 1, side)[0]
    for l in lines:
        want = f00.expected(l["step"])
        assert l["ranks"] == 2
        assert l["max"] == want.max()
        assert abs(l["total"] - want.sum()) <= 1e-12 * abs(want.sum())
        assert abs(l["mean"] - want.mean()) <= 1e-12 * abs(want.mean())
    assert not [p for p in os.listdir(tmp_path) if ".analysis-" in p], "scratch files left behind"
