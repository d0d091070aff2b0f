"""pwstore for Python: read and write pwstore checkpoint files, live.

An h5py-like package over libpwstore (the C ABI, through ctypes), so there
is one implementation of the format and the protocol::

    import pwstore
    with pwstore.File(path) as f:          # follow a file, live or closed
        t = f.tick()                        # adopt the newest snapshot
        d = f["/fields/T"]
        a = d[-1, :, 10:20]                 # a numpy array

See the README's Python section; ``pwstore.xarray_backend`` is the xarray
engine ``"pwstore"``.
"""

from ._file import AttributeManager, Comm, Dataset, File, recover, stats
from ._lib import UNLIMITED, nats_serve
from ._lib import version as lib_version
from .errors import (ArgError, BadHandleError, ClosedError, ConfigError, CorruptError,
                     DivergedError, Error, ExistsError, IOError, LaggingError, LibraryError,
                     NotFoundError, NotReadyError, TimeoutError, WriterAliveError,
                     WriterGoneError)

__version__ = "0.1.0"

__all__ = [
    "File", "Dataset", "AttributeManager", "Comm", "recover", "nats_serve", "lib_version",
    "stats", "UNLIMITED",
    "Error", "ArgError", "ConfigError", "NotFoundError", "ExistsError", "CorruptError",
    "LaggingError", "WriterGoneError", "DivergedError",
    "ClosedError", "BadHandleError", "NotReadyError", "WriterAliveError", "LibraryError",
]
# pwstore.IOError and pwstore.TimeoutError are left out of __all__: a star
# import would hide the built-ins of the same names.
