"""Shared fixtures: the Go commands, a pwriter file, helpers to run them.

Run by python/run-tests.sh, which builds libpwstore into a temporary prefix
(PWSTORE_LIB, PWSTORE_PREFIX) and the commands (PW_BIN).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy", reason="numpy (Debian python3-numpy) is not installed")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.dirname(__file__))

PY = sys.executable


@pytest.fixture(scope="session")
def bindir(tmp_path_factory):
    """A directory with pwriter and preader (PW_BIN, or built now)."""
    d = os.environ.get("PW_BIN")
    if d:
        return d
    d = str(tmp_path_factory.mktemp("bin"))
    subprocess.run(["go", "build", "-o", d, "./cmd/pwriter", "./cmd/preader"], cwd=REPO, check=True)
    return d


@pytest.fixture(scope="session")
def prefix():
    """The install prefix of libpwstore (include/, lib/), for C tests."""
    p = os.environ.get("PWSTORE_PREFIX")
    if not p:
        pytest.skip("PWSTORE_PREFIX not set (python/run-tests.sh sets it)")
    return p


def run(*cmd, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class Tools:
    def __init__(self, bindir):
        self.pwriter = os.path.join(bindir, "pwriter")
        self.preader = os.path.join(bindir, "preader")

    def cat(self, path, ds):
        """preader cat --json of a whole dataset as a numpy array (values
        exact: Go prints the shortest round-tripping form)."""
        out = json.loads(run(self.preader, "cat", path, ds, "--json").stdout)
        data = [float(x) if isinstance(x, str) else x for x in out["data"]]
        return out["shape"], data

    def ls(self, path):
        return run(self.preader, "ls", path, "--json").stdout


@pytest.fixture(scope="session")
def tools(bindir):
    return Tools(bindir)


@pytest.fixture(scope="session")
def ckpt_file(tools, tmp_path_factory):
    """A closed file of pwriter's ckpt workload: 2 ranks, 6 steps,
    3 fields of side 6, a series of 4 per step."""
    path = str(tmp_path_factory.mktemp("ckpt") / "ckpt.pw")
    run(tools.pwriter, "run", "--np", "2", "--steps", "6", "--side", "6", "--elems", "4",
        "--datasets", "3", "--tick", "10ms", path)
    return path


@pytest.fixture
def clean_env(monkeypatch):
    """No rank environment: the File is one rank."""
    for k in list(os.environ):
        if k.startswith(("PW_RANK", "PW_SIZE", "PW_JOB", "SLURM_", "OMPI_COMM_WORLD", "PMIX_")):
            monkeypatch.delenv(k)
    return monkeypatch


def have(tool):
    return shutil.which(tool) is not None
