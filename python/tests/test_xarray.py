"""The xarray backend: variables, dims, attrs, and lazy loading."""

import numpy as np
import pytest

import pwstore
import workload

xr = pytest.importorskip("xarray", reason="xarray (Debian python3-xarray) is not installed")
from pwstore.xarray_backend import PwstoreBackendEntrypoint  # noqa: E402


@pytest.mark.parametrize("engine", ["pwstore", PwstoreBackendEntrypoint], ids=["name", "class"])
def test_open_dataset_variables_and_attrs(ckpt_file, engine, clean_env):
    with xr.open_dataset(ckpt_file, engine=engine) as ds:
        assert sorted(ds.data_vars) == ["fields_f00", "fields_f01", "fields_f02", "series_energy", "steps_time"]
        v = ds["fields_f01"]
        assert v.shape == (6, 6, 6, 6) and v.dtype == np.float64
        assert v.dims == ("step", "z", "y", "x")  # pwriter's workloads set the dims attribute
        assert v.attrs["dtype"] == "float64" and v.attrs["pwstore_path"] == "/fields/f01"
        assert ds["steps_time"].attrs["steps_complete"] == 6
        assert ds.attrs["pwstore_tick"] >= 0
        lay = workload.layout("ckpt", 3, 4, 6)[1]
        np.testing.assert_array_equal(v[4].values, lay.expected(4)[0])


def test_lazy_loading_reads_only_the_slice(ckpt_file, clean_env):
    before = pwstore.stats()
    ds = xr.open_dataset(ckpt_file, engine="pwstore")
    try:
        opened = pwstore.stats()
        assert opened["read_bytes"] == before["read_bytes"], "open read data"
        sel = ds["fields_f02"][3, 1:3, 2]          # lazy: nothing read yet
        assert pwstore.stats()["read_bytes"] == opened["read_bytes"]
        got = sel.values
        after = pwstore.stats()
        assert got.shape == (2, 6)
        assert after["read_bytes"] - opened["read_bytes"] == 2 * 6 * 8  # just those 12 doubles
        lay = workload.layout("ckpt", 3, 4, 6)[2]
        np.testing.assert_array_equal(got, lay.expected(3)[0, 1:3, 2])
        # a whole variable is one read of all of it
        ds["series_energy"].load()
        assert pwstore.stats()["read_bytes"] - after["read_bytes"] == 6 * 4 * 8
    finally:
        ds.close()


def test_dims_attribute_names_dimensions(tmp_path, clean_env):
    path = str(tmp_path / "dims.pw")
    with pwstore.File(path, "w", tick=0.05) as f:
        t = f.create_dataset("/T", data=np.arange(12.0).reshape(3, 4))
        t.attrs["dims"] = "time,x"
        t.attrs["units"] = "K"
        e = f.create_dataset("/E", data=np.arange(3.0))
        e.attrs["dims"] = "time"
        b = f.create_dataset("/bad", data=np.zeros((2, 2)))
        b.attrs["dims"] = "only_one"
        late = f.create_dataset("/late", data=np.arange(2.0))  # a step behind /T, as in a live file
        late.attrs["dims"] = "time"
    with xr.open_dataset(path, engine="pwstore") as ds:
        assert ds["T"].dims == ("time", "x") and ds["E"].dims == ("time",)
        assert ds["T"].attrs["units"] == "K" and "dims" not in ds["T"].attrs
        assert ds["bad"].dims == ("bad_dim0", "bad_dim1")
        assert ds["late"].dims == ("late_dim0",)  # "time" is 3 long: the disagreeing one is renamed
        np.testing.assert_array_equal((ds["T"] * ds["E"]).values, np.arange(12.0).reshape(3, 4) * np.arange(3.0)[:, None])
        assert float(ds["T"].isel(time=-1, x=slice(None, None, -2)).sum()) == 11.0 + 9.0


def test_reopen_sees_new_steps(tmp_path, clean_env):
    """The live-refresh pattern: each open is a new snapshot; an open
    Dataset keeps its shape."""
    path = str(tmp_path / "grow.pw")
    with pwstore.File(path, "w", tick=0.02) as f:
        d = f.create_dataset("/s", shape=(0, 2), maxshape=(None, 2), chunks=(4, 2), dtype="int64")
        d.resize(1)
        d[0] = [1, 2]
        f.end_tick()
        old = xr.open_dataset(path, engine="pwstore")
        d.resize(2)
        d[1] = [3, 4]
        f.end_tick()
        with xr.open_dataset(path, engine="pwstore") as new:
            assert new["s"].shape == (2, 2)
            assert new["s"].values.tolist() == [[1, 2], [3, 4]]
        assert old["s"].shape == (1, 2) and old["s"].values.tolist() == [[1, 2]]
        assert old["s"][-1].values.tolist() == [1, 2] and old["s"][::-1, -1].values.tolist() == [2]
        old.close()
