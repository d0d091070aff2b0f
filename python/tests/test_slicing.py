"""numpy-style indexing against numpy itself on the same values."""

import numpy as np
import pytest

import pwstore
from pwstore import _file


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("slice") / "s.pw")
    a = np.arange(7 * 9 * 11, dtype=np.int64).reshape(7, 9, 11) * 3 - 500
    with pwstore.File(path, "w", tick=0.05, comm=(0, 1)) as f:
        f.create_dataset("/a", data=a, chunks=(2, 4, 5))
        f.create_dataset("/one", data=np.array([42.5]))
    f = pwstore.File(path, comm=(0, 1))
    f.tick()
    yield f, a
    f.close()


KEYS = [
    0, -1, -7, 3, (2, 3, 4), (-1, -1, -1), (slice(None),), Ellipsis, (Ellipsis, 2),
    (1, Ellipsis), (1, Ellipsis, -2), (slice(1, 5), slice(None), 3),
    slice(None, None, 2), slice(None, None, -1), slice(5, 1, -2), (slice(None), slice(None, None, 3), slice(1, None, 4)),
    (slice(None, None, -3), slice(8, None, -4), slice(None, None, -1)),
    slice(3, 3), slice(5, 2), (slice(None), slice(9, None)), (1, slice(0, 0), 2),
    slice(-100, 100), (slice(-3, None), slice(None, -5)), np.int64(4), (np.int32(-2), np.uint8(1)),
    (slice(6, -100, -1), 0, slice(None, None, 10)), (Ellipsis, slice(10, None, -5)),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_index_like_numpy(grid, key):
    f, a = grid
    got = f["/a"][key]
    want = a[key]
    assert isinstance(got, np.ndarray) and got.dtype == a.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("key", [7, -8, (0, 9), (0, 0, 11), (0, 0, -12), 100], ids=repr)
def test_out_of_range_int_is_index_error(grid, key):
    f, a = grid
    with pytest.raises(IndexError):
        a[key]
    with pytest.raises(IndexError):
        f["/a"][key]


@pytest.mark.parametrize("key", [(0, 0, 0, 0), (Ellipsis, Ellipsis), 1.5, "x", [1, 2], True,
                                 np.array([1, 2])], ids=repr)
def test_bad_keys_are_index_errors(grid, key):
    f, _ = grid
    with pytest.raises(IndexError):
        f["/a"][key]


def test_stepped_read_one_index_at_a_time(grid, monkeypatch):
    """When the bounding box would be far larger than the selection, the
    stepped axis is read per index: fewer bytes, same values."""
    f, a = grid
    monkeypatch.setattr(_file, "_BOX_BYTES", 0)
    before = pwstore.stats()
    got = f["/a"][::6, 1, ::10]
    after = pwstore.stats()
    np.testing.assert_array_equal(got, a[::6, 1, ::10])
    assert after["read_bytes"] - before["read_bytes"] < a[:, 1, :].nbytes


def test_contiguous_read_is_one_call_into_the_result(grid):
    f, a = grid
    before = pwstore.stats()
    got = f["/a"][2:5, 3]
    after = pwstore.stats()
    assert after["read_calls"] - before["read_calls"] == 1
    assert after["read_bytes"] - before["read_bytes"] == got.nbytes
    out = np.zeros((3, 1, 11), np.int64)
    assert f["/a"].read((2, 3, 0), (3, 1, 11), out=out) is out
    np.testing.assert_array_equal(out[:, 0], a[2:5, 3])


def test_scalar_dataset_and_array_protocol(grid):
    f, a = grid
    assert f["/one"][0] == 42.5 and f["/one"][-1] == 42.5
    np.testing.assert_array_equal(np.asarray(f["/a"]), a)
    assert np.asarray(f["/a"], dtype=np.float32).dtype == np.float32


def test_reader_cannot_write(grid):
    f, _ = grid
    with pytest.raises(pwstore.ArgError):
        f["/a"][0, 0, 0] = 1
    with pytest.raises(pwstore.ArgError):
        f["/a"].attrs["x"] = 1


def test_write_selection_checks(tmp_path, clean_env):
    with pwstore.File(str(tmp_path / "w.pw"), "w", tick=0.05) as f:
        d = f.create_dataset("/a", shape=(4, 5), dtype="int32")
        d[1:3, 1:4] = [[1, 2, 3], [4, 5, 6]]
        d[-1] = 9
        d[0, 0:0] = []  # empty: nothing written
        with pytest.raises(pwstore.ArgError):
            d[::2] = 1
        with pytest.raises(pwstore.ArgError):
            d[0:2, 0:2] = np.ones((3, 3))
        with pytest.raises(IndexError):
            d[4] = 1
        want = np.zeros((4, 5), np.int32)
        want[1:3, 1:4] = [[1, 2, 3], [4, 5, 6]]
        want[-1] = 9
        np.testing.assert_array_equal(d[...], want)
