"""An xarray backend for pwstore files, live or closed.

``xarray.open_dataset(path, engine="pwstore")`` once the package is
installed (pip registers the entry point), or
``engine=pwstore.xarray_backend.PwstoreBackendEntrypoint`` from anywhere
(xarray accepts the class itself).

- One variable per dataset. Its name is the dataset path without the
  leading "/" and with every further "/" turned into "_" (``/fields/T`` is
  ``fields_T``); when two paths would get one name, both keep their path
  without the leading "/". The variable's attribute ``pwstore_path`` holds
  the path.
- Dimension names come from the dataset's attribute ``dims``: a comma-
  separated string with one name per dimension (``"step,x,y,z"``). Without
  it (or with a wrong count) they are ``<variable>_dim0``, ``_dim1``, ...
  A named dimension has one length in the whole Dataset: a variable whose
  named dimension disagrees with one opened before (a live file where one
  dataset already has the next step) takes the generated names instead.
  ``pwriter``'s workloads name theirs (``step``, ``sample``, ``z,y,x``), and
  so does ``examples/heat3d`` (``checkpoint,x,y,z``).
- The other attributes of the dataset are the variable's attrs; the
  dataset's attrs hold ``pwstore_tick``, the snapshot's tick.
- Variables are lazy (a BackendArray): only the slices used are read.
- The file stays open (a reader ticking by itself, so it never lags) until
  the xarray Dataset is closed. Each variable keeps the shape it had at
  open: to see new steps of a file being written, open it again, e.g.
  ``while True: with xr.open_dataset(p, engine="pwstore") as ds: plot(ds.T[-1]); sleep(1)``.
"""

import os

import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from ._file import File

DIMS_ATTR = "dims"


class PwstoreBackendArray(BackendArray):
    """A dataset of an open File, with the shape it had at open; each
    indexing reads that slice only."""

    def __init__(self, ds):
        self.ds = ds
        self.shape = ds.shape
        self.dtype = ds.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key):
        # Slices and negative ints count from the shape at open, so the
        # variable stays the same while the file grows.
        key = tuple(slice(*k.indices(n)) if isinstance(k, slice) else (k + n if k < 0 else k)
                    for k, n in zip(key, self.shape))
        return self.ds[key]


def _names(paths):
    names = {p: p.lstrip("/").replace("/", "_") for p in paths}
    counts = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {p: (n if counts[n] == 1 else p.lstrip("/")) for p, n in names.items()}


def _dims(var, ds, attrs, sizes):
    """The dimension names of ds. Named dimensions must agree in length
    with the variables named before (xarray needs one length per name): a
    file being written may have appended a step to one dataset and not yet
    to another, so a variable whose named dimensions disagree takes
    generated names instead of failing the whole open."""
    spec = attrs.pop(DIMS_ATTR, None)
    if isinstance(spec, str):
        dims = tuple(d.strip() for d in spec.split(","))
        if len(dims) == ds.ndim and all(dims) and len(set(dims)) == len(dims):
            if all(sizes.get(n, m) == m for n, m in zip(dims, ds.shape)):
                sizes.update(zip(dims, ds.shape))
                return dims
    return tuple(f"{var}_dim{i}" for i in range(ds.ndim))


def open_pwstore(path, drop_variables=None, tick=0.1, open_wait=None):
    """The xarray Dataset of a pwstore file (see the module docs)."""
    f = File(path, "r", tick=tick, open_wait=open_wait)
    try:
        t = f.tick()
        drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
        variables, sizes = {}, {}
        for p, var in _names(f.keys()).items():
            if var in drop or p in drop:
                continue
            d = f[p]
            attrs = dict(d.attrs)
            dims = _dims(var, d, attrs, sizes)
            attrs["pwstore_path"] = p
            data = indexing.LazilyIndexedArray(PwstoreBackendArray(d))
            variables[var] = xr.Variable(dims, data, attrs)
        out = xr.Dataset(variables, attrs={"pwstore_tick": t})
    except BaseException:
        f.close()
        raise
    out.set_close(f.close)
    return out


class PwstoreBackendEntrypoint(BackendEntrypoint):
    """xarray engine "pwstore"."""

    description = "Open pwstore checkpoint files (live or closed) in xarray"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "tick", "open_wait")

    def open_dataset(self, filename_or_obj, *, drop_variables=None, tick=0.1, open_wait=None):
        return open_pwstore(filename_or_obj, drop_variables=drop_variables, tick=tick,
                            open_wait=open_wait)

    def guess_can_open(self, filename_or_obj):
        try:
            return os.fspath(filename_or_obj).endswith(".pw")
        except TypeError:
            return False


__all__ = ["PwstoreBackendEntrypoint", "PwstoreBackendArray", "open_pwstore", "DIMS_ATTR"]
