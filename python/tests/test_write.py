"""Writing through Python, reading back through preader."""

import os
import uuid

import numpy as np
import pytest

import pwstore
import workload
from conftest import PY, run
from test_live import reader_env, run_ranks


def test_python_ckpt_passes_preader_verify(tmp_path, tools, clean_env):
    path = str(tmp_path / "py.pw")
    with pwstore.File(path, "w", tick=0.05) as f:
        workload.write_ckpt(f, steps=5, datasets=2, elems=3, side=4)
    out = run(tools.preader, "verify", path, "--json").stdout
    assert '"ok":true' in out and '"steps":5' in out, out
    # and the values through Python again
    with pwstore.File(path) as f:
        f.tick()
        for l in workload.layout("ckpt", 2, 3, 4):
            assert workload.check_dataset(f[l.path], l, 5) == 0


def test_two_python_writer_ranks_pass_preader_verify(tmp_path, tools):
    """Two processes write one file as the ranks of a parallel writer
    (comm=(rank, size, job, nats_url)), each its block of every field."""
    path = str(tmp_path / "par.pw")
    url, job = pwstore.nats_serve(), "pyw-" + uuid.uuid4().hex[:8]
    here = os.path.dirname(os.path.abspath(__file__))
    run_ranks([[PY, os.path.join(here, "pwrite.py"), path, str(r), "2", job, url] for r in range(2)],
              [reader_env()] * 2)
    out = run(tools.preader, "verify", path, "--json").stdout
    assert '"ok":true' in out and '"steps":4' in out, out


def test_preader_verify_catches_a_wrong_python_value(tmp_path, tools, clean_env):
    """The verify above can fail: one element off is reported."""
    path = str(tmp_path / "bad.pw")
    with pwstore.File(path, "w", tick=0.05) as f:
        workload.write_ckpt(f, steps=2, datasets=1, elems=1, side=3)
        f["/fields/f00"][1, 2, 2, 2] = 0.5
    r = run(tools.preader, "verify", path, check=False)
    assert r.returncode != 0 and "/fields/f00" in r.stderr, r.stderr


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float32", "float64"])
def test_every_dtype_round_trips(tmp_path, tools, dtype, clean_env):
    path = str(tmp_path / f"{dtype}.pw")
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    a = np.linspace(info.min / 2, info.max / 2, 24).astype(dtype).reshape(2, 3, 4)
    a.flat[0], a.flat[-1] = info.min, info.max
    with pwstore.File(path, "w", tick=0.05) as f:
        d = f.create_dataset("/v", data=a)
        assert d.dtype == np.dtype(dtype) and d.shape == (2, 3, 4)
        np.testing.assert_array_equal(d[...], a)  # a writer reads what it wrote
    shape, data = tools.cat(path, "/v")
    assert shape == [2, 3, 4]
    np.testing.assert_array_equal(np.array(data, dtype=np.float64 if "float" in dtype else object).astype(dtype),
                                  a.ravel())
    with pwstore.File(path) as f:
        np.testing.assert_array_equal(f["/v"][...], a)


def test_append_mode_reopens_and_grows(tmp_path, tools, clean_env):
    path = str(tmp_path / "a.pw")
    with pwstore.File(path, "w", tick=0.05) as f:
        d = f.create_dataset("/x", shape=(0, 64), maxshape=(None, 64), chunks=(1, 64), dtype="float64")
        d.resize(1)
        d[0] = np.arange(64.0)
        f.sync()
        d.attrs["units"] = "K"
    with pwstore.File(path, "a", tick=0.05) as f:
        d = f["/x"]
        assert d.shape == (1, 64) and d.attrs["units"] == "K"
        d.resize((3, 64))
        d[1:3] = np.arange(128.0).reshape(2, 64) + 100
        d[2, :4] = -1  # broadcast a scalar into a row's part
        d.attrs["steps"] = 3
        f.end_tick()
        f.flush()
    shape, data = tools.cat(path, "/x")
    assert shape == [3, 64]
    want = np.concatenate([np.arange(64.0), np.arange(128.0) + 100])
    want[128:132] = -1
    assert data == want.tolist()


def test_create_dataset_guesses_chunks_for_unlimited(tmp_path, clean_env):
    with pwstore.File(str(tmp_path / "g.pw"), "w", tick=0.05) as f:
        d = f.create_dataset("/s", shape=(0,), maxshape=(None,), dtype="int32")
        assert d.maxshape == (None,) and d.chunks[0] >= 1
        for n in range(1, 4):
            d.resize(n)
            d[n - 1] = n
        np.testing.assert_array_equal(d[...], [1, 2, 3])
        with pytest.raises(pwstore.Error):  # never shrinks
            d.resize(1)


def test_open_files_are_closed_at_exit(tmp_path, tools):
    """A script that never calls close() still leaves a complete file."""
    path = str(tmp_path / "exit.pw")
    run(PY, "-c", f"""
import numpy as np, pwstore, workload
f = pwstore.File({path!r}, "w", tick=0.05)
workload.write_ckpt(f, steps=3, datasets=1, elems=1, side=3)
""", env=reader_env(), cwd=os.path.dirname(os.path.abspath(__file__)))  # workload.py is here
    assert not os.path.exists(path + ".md")  # closed cleanly: no metadata file left
    out = run(tools.preader, "verify", path, "--json").stdout
    assert '"ok":true' in out and '"steps":3' in out, out


def test_append_grows_and_writes_in_one_call(tmp_path, tools, clean_env):
    path = str(tmp_path / "ap.pw")
    with pwstore.File(path, "w", tick=0.05) as f:
        d = f.create_dataset("/x", shape=(0, 3), maxshape=(None, 3), chunks=(2, 3), dtype="int16")
        assert d.append(np.arange(6).reshape(2, 3)) == 0   # two rows
        assert d.append([7, 8, 9]) == 2                    # one row, converted to int16
        assert d.append(rows=1) == 3                       # grow only: the row stays zero
        for bad in (np.zeros((2, 2)), np.zeros(4), np.zeros((1, 1, 3))):
            with pytest.raises(pwstore.ArgError):
                d.append(bad)
        with pytest.raises(pwstore.ArgError):
            d.append([1, 2, 3], rows=2)
        with pytest.raises(pwstore.ArgError):
            d.append()
        assert d.shape == (4, 3)  # a refused append grows nothing
        s = f.create_dataset("/s", shape=(0,), maxshape=(None,), chunks=(4,), dtype="float64")
        for v in range(5):
            s.append(v / 2)
        fixed = f.create_dataset("/fixed", shape=(2,), dtype="int32")
        with pytest.raises(pwstore.ArgError):
            fixed.append(1)
        d.attrs["units"] = "K"
        d.attrs["step"] = 4
        assert list(d.attrs) == ["step", "units"] and len(d.attrs) == 2  # a writer lists them too
        f.sync()
    shape, data = tools.cat(path, "/x")
    assert shape == [4, 3] and data == [0, 1, 2, 3, 4, 5, 7, 8, 9, 0, 0, 0]
    with pwstore.File(path) as f:
        np.testing.assert_array_equal(f["/s"][...], [0, 0.5, 1, 1.5, 2])
        assert dict(f["/x"].attrs) == {"step": 4, "units": "K"}
