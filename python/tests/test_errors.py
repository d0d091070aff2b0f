"""Errors are Python exceptions of the right type, with the library's
message, and never crash the interpreter."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest

import pwstore
from conftest import run


def test_missing_file(tmp_path, clean_env):
    with pytest.raises(pwstore.NotFoundError) as e:
        pwstore.File(str(tmp_path / "nope.pw"))
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, pwstore.Error)
    assert e.value.code == -3 and "nope.pw" in str(e.value)


def test_missing_dataset_is_not_found_and_key_error(ckpt_file, clean_env):
    with pwstore.File(ckpt_file) as f:
        with pytest.raises(pwstore.NotFoundError):
            f["/fields/none"]
        with pytest.raises(KeyError):
            f["/fields/none"]
        assert f.get("/fields/none") is None
        with pytest.raises(KeyError):
            f["/fields/f00"].attrs["nope"]


def test_exists(tmp_path, ckpt_file, clean_env):
    with pytest.raises(pwstore.ExistsError):
        pwstore.File(ckpt_file, "w", tick=0.05)
    with pwstore.File(str(tmp_path / "e.pw"), "w", tick=0.05) as f:
        f.create_dataset("/a", shape=(2,), dtype="int32")
        with pytest.raises(pwstore.ExistsError):
            f.create_dataset("/a", shape=(2,), dtype="int32")


def test_not_a_pwstore_file_is_corrupt(tmp_path, clean_env):
    p = tmp_path / "junk.pw"
    p.write_bytes(os.urandom(64 << 10))
    with pytest.raises(pwstore.CorruptError):
        pwstore.File(str(p))


def test_damaged_file_is_corrupt(tmp_path, tools, clean_env):
    """Overwrite the file's metadata pages (everything but the raw chunks at
    its end) with garbage: opening or reading gives CorruptError."""
    path = str(tmp_path / "dmg.pw")
    run(tools.pwriter, "run", "--steps", "3", "--side", "4", "--tick", "10ms", path)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xa5" * min(8192, size - 4096))
    with pytest.raises(pwstore.CorruptError):
        with pwstore.File(path) as f:
            f.tick()
            for name in f:
                f[name][...]


def test_closed(ckpt_file, clean_env):
    f = pwstore.File(ckpt_file)
    d = f["/fields/f00"]
    f.close()
    f.close()  # twice is fine
    for op in (lambda: f.tick(), lambda: list(f), lambda: d[0], lambda: d.shape, lambda: f["/fields/f00"]):
        with pytest.raises(pwstore.ClosedError):
            op()


def test_bad_arguments_and_config(tmp_path, clean_env):
    with pytest.raises(pwstore.ConfigError):
        pwstore.File(str(tmp_path / "c.pw"), "w", tick=-1)
    assert not os.path.exists(str(tmp_path / "c.pw"))  # refused before anything was created
    with pytest.raises(pwstore.ConfigError):
        pwstore.File(str(tmp_path / "c.pw"), "w", max_lag="ten")
    with pytest.raises(pwstore.ArgError):
        pwstore.File(str(tmp_path / "c.pw"), "q")
    with pytest.raises(pwstore.ArgError):
        pwstore.File(str(tmp_path / "c.pw"), comm=(3, 2))
    with pytest.raises(TypeError):
        pwstore.File(str(tmp_path / "c.pw"), comm=object())
    with pwstore.File(str(tmp_path / "c.pw"), "w", tick=0.05) as f:
        with pytest.raises(pwstore.ArgError):
            f.create_dataset("/nine", shape=(1,) * 9)
        with pytest.raises(TypeError):
            f.create_dataset("/c", shape=(2,), dtype=np.complex128)
        with pytest.raises(pwstore.ArgError):
            f.create_dataset("/neg", shape=(-1,))
        for bad in (dict(maxshape=(None, None)), dict(maxshape=(1, 2)), dict(chunks=(0, 1))):
            with pytest.raises(pwstore.ArgError):
                f.create_dataset("/spec", shape=(2, 2), **bad)
        with pytest.raises(pwstore.Error):  # the library's limit: a chunk of at most 2 GiB
            f.create_dataset("/huge", shape=(2**40, 2**40))
        with pytest.raises(pwstore.ArgError):
            f.tick()
        d = f.create_dataset("/ok", shape=(2, 2), dtype="float32")
        with pytest.raises(pwstore.ArgError):
            d.resize(5, axis=1)
        with pytest.raises(pwstore.ArgError):
            d.read((0, 0), (2, 2), out=np.zeros(3))
        with pytest.raises(IndexError):
            d.read((1, 1), (2, 2))
        with pytest.raises(TypeError):
            d.attrs["x"] = [1, 2]


def test_library_errors_carry_the_library_message(tmp_path, clean_env):
    with pwstore.File(str(tmp_path / "m.pw"), "w", tick=0.05) as f:
        f.create_dataset("/fixed", shape=(2,), dtype="int8")
        with pytest.raises(pwstore.Error) as e:
            f["/fixed"].resize(3)  # beyond its max shape: the library says why
    assert type(e.value) is not pwstore.Error and str(e.value) and e.value.code < 0


def test_writer_gone_then_recover(tmp_path, tools, clean_env):
    path = str(tmp_path / "gone.pw")
    w = subprocess.Popen([tools.pwriter, "run", "--steps", "100000", "--side", "4", "--tick", "20ms",
                          "--step-delay", "10ms", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with pwstore.File(path, open_wait=60, writer_gone=2.0) as f:
            while f.tick() < 5:
                time.sleep(0.02)
            w.send_signal(signal.SIGKILL)
            w.wait()
            deadline = time.time() + 60
            with pytest.raises(pwstore.WriterGoneError):
                while time.time() < deadline:
                    f.tick()
                    time.sleep(0.05)
            last = f["/steps/time"].attrs["steps_complete"]  # the last snapshot stays readable
            assert last >= 1
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    t = pwstore.recover(path, writer_gone=0.5)
    assert t >= 5
    run(tools.preader, "verify", path)
    with pwstore.File(path) as f:
        f.tick()
        assert f.writer_closed


def test_lagging_reader_then_tick_catches_up(tmp_path, tools, clean_env):
    """A reader that does not tick for many writer ticks gets LaggingError
    (never stale data) on its next load of a metadata page; tick() catches up.
    Round robin over 300 datasets: their headers fill several header blocks
    and their catalog several nodes, so reading them all loads pages the
    reader has not cached (a page it holds is of its own snapshot, and reads
    from it are no error)."""
    path = str(tmp_path / "lag.pw")
    w = subprocess.Popen([tools.pwriter, "run", "--workload", "rr", "--datasets", "300", "--steps", "100000",
                          "--tick", "10ms", "--max-lag", "3", "--step-delay", "5ms", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with pwstore.File(path, open_wait=60) as f:
            while "/steps/time" not in f:
                f.tick()
                time.sleep(0.01)
            time.sleep(0.5)  # 50 writer ticks without a tick of ours
            with pytest.raises(pwstore.LaggingError):
                f["/steps/time"].attrs["steps_complete"]
                for i in range(300):  # until a read loads a metadata page it has not cached
                    f[f"/rr/d{i:05d}"].shape
            for _ in range(20):  # tick() adopts the newest snapshot again
                try:
                    f.tick()
                    assert f["/steps/time"].attrs["steps_complete"] >= 1
                    break
                except pwstore.LaggingError:
                    continue  # on a loaded machine the writer may outrun us again
            else:
                pytest.fail("never caught up")
    finally:
        w.kill()
        w.wait()
