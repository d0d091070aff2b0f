"""Reading files written by pwriter and by the C ABI: equal to preader cat."""

import os
import subprocess

import numpy as np
import pytest

import pwstore
import workload
from conftest import run


def test_pwriter_file_equals_preader_cat(ckpt_file, tools, clean_env):
    with pwstore.File(ckpt_file) as f:
        f.tick()  # a closed file: its final state (the tick may be 0: no metadata file left)
        assert f.writer_closed
        names = list(f)
        assert names == sorted(names)
        assert names == ["/fields/f00", "/fields/f01", "/fields/f02", "/series/energy", "/steps/time"]
        for name in names:
            d = f[name]
            shape, data = tools.cat(ckpt_file, name)
            assert list(d.shape) == shape
            a = d[...]
            assert a.shape == tuple(shape) and a.dtype == d.dtype
            assert a.ravel().tolist() == data, name
            np.testing.assert_array_equal(np.asarray(d), a)


def test_pwriter_file_metadata_and_values(ckpt_file, clean_env):
    lay = {l.path: l for l in workload.layout("ckpt", datasets=3, elems=4, side=6)}
    with pwstore.File(ckpt_file) as f:
        f.tick()
        d = f["fields/f01"]  # a relative name is the same path
        assert d.name == "/fields/f01"
        assert d.shape == (6, 6, 6, 6) and d.ndim == 4 and len(d) == 6
        assert d.dtype == np.float64
        assert d.chunks == (1, 6, 6, 6)
        assert d.maxshape == (None, 6, 6, 6)
        assert dict(d.attrs) == {"dtype": "float64", "dims": "step,z,y,x"}
        t = f["/steps/time"]
        assert t.dtype == np.int64
        assert t.attrs["steps_complete"] == 6 and t.attrs["workload"] == "ckpt"
        assert "/steps/time" in f and "/nope" not in f and len(f) == 5
        for name, l in lay.items():
            assert workload.check_dataset(f[name], l, 6) == 0, name


C_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwstore.h>
#define CK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %d %s\n", #x, rc_, pw_errmsg()); return 1; } } while (0)
int main(int argc, char **argv) {
  pw_config c; pw_config_init(&c); c.size = 1; c.manual_ticks = 1;
  pw_handle f, a, b, g;
  CK(pw_create(argv[1], &c, &f));
  uint64_t sa[2] = {5, 7}, sb[1] = {0}, mb[1] = {PW_UNLIMITED}, cb[1] = {4}, sg[3] = {2, 3, 4};
  CK(pw_dataset_create(f, "/grid/a", PW_INT16, 2, sa, NULL, NULL, &a));
  CK(pw_dataset_create(f, "/grid/g", PW_FLOAT32, 3, sg, NULL, NULL, &g));
  CK(pw_dataset_create(f, "/b", PW_UINT64, 1, sb, mb, cb, &b));
  short va[35]; for (int i = 0; i < 35; i++) va[i] = (short)(i * 1000 - 17000);
  uint64_t st[3] = {0, 0, 0};
  CK(pw_dataset_write(a, st, sa, va, sizeof va));
  float vg[24]; for (int i = 0; i < 24; i++) vg[i] = 0.1f * i - 1.0f;
  CK(pw_dataset_write(g, st, sg, vg, sizeof vg));
  for (uint64_t n = 1; n <= 10; n++) {
    CK(pw_dataset_extend(b, n));
    uint64_t s1[1] = {n - 1}, c1[1] = {1}, v = UINT64_MAX - n;
    CK(pw_dataset_write(b, s1, c1, &v, sizeof v));
    CK(pw_sync(f));
  }
  CK(pw_attr_set_str(a, "dims", "row,col"));
  CK(pw_attr_set_f64(a, "scale", 0.25));
  CK(pw_attr_set_i64(a, "offset", -3));
  CK(pw_attr_set_u64(b, "big", UINT64_MAX));
  CK(pw_close(f));
  return 0;
}
"""


@pytest.fixture(scope="module")
def c_file(prefix, tmp_path_factory):
    d = tmp_path_factory.mktemp("cabi")
    src, exe = d / "w.c", d / "w"
    src.write_text(C_WRITER)
    run("gcc", "-o", exe, src, f"-I{prefix}/include", f"-L{prefix}/lib", "-lpwstore",
        f"-Wl,-rpath,{prefix}/lib")
    path = str(d / "c.pw")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PW_RANK", "PW_SIZE", "SLURM_", "OMPI_"))}
    run(exe, path, env=env)
    return path


def test_c_abi_file_equals_preader_cat(c_file, tools, clean_env):
    with pwstore.File(c_file) as f:
        f.tick()
        assert list(f) == ["/b", "/grid/a", "/grid/g"]
        want = {"/grid/a": ((5, 7), np.int16), "/grid/g": ((2, 3, 4), np.float32), "/b": ((10,), np.uint64)}
        for name, (shape, dt) in want.items():
            d = f[name]
            assert d.shape == shape and d.dtype == dt
            cshape, data = tools.cat(c_file, name)
            assert list(shape) == cshape
            a = d[...]
            if dt == np.float32:
                np.testing.assert_array_equal(a.ravel(), np.array(data, np.float32))
            else:
                assert a.ravel().tolist() == data
        assert f["/grid/a"][1, 2] == 9 * 1000 - 17000
        assert f["/b"][-1] == 2**64 - 1 - 10
        assert dict(f["/grid/a"].attrs) == {"dims": "row,col", "scale": 0.25, "offset": -3}
        assert f["/b"].attrs["big"] == 2**64 - 1
        assert f["/b"].maxshape == (None,) and f["/b"].chunks == (4,)
        assert f["/grid/a"].maxshape == (5, 7)
