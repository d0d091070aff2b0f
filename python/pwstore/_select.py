"""numpy-style basic indexing turned into boxes of the dataset.

A key (ints, slices with any step, one Ellipsis) becomes one Dim per axis:
the first element, the step, the element count, and whether an int
dropped the axis. Ints are checked against the shape (IndexError, as numpy);
slices are clipped to it, as numpy does.
"""

import operator
from typing import NamedTuple


class Dim(NamedTuple):
    start: int   # first element selected
    step: int    # non-zero; negative walks backwards
    count: int   # elements selected (0: empty)
    drop: bool   # an int index: the axis is not in the result

    def box(self):
        """The (start, count) of the smallest contiguous run holding the
        selection (count 0 when empty)."""
        if self.count == 0:
            return 0, 0
        last = self.start + (self.count - 1) * self.step
        return min(self.start, last), abs(last - self.start) + 1


def parse(key, shape):
    """The Dims of key over a dataset of this shape."""
    if not isinstance(key, tuple):
        key = (key,)
    ells = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(ells) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ells:
        i = ells[0]
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: dataset is {len(shape)}-dimensional, "
                         f"but {len(key)} were indexed")
    key = key + (slice(None),) * (len(shape) - len(key))
    dims = []
    for axis, (k, n) in enumerate(zip(key, shape)):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            dims.append(Dim(start, step, len(range(start, stop, step)), False))
            continue
        if isinstance(k, bool) or type(k).__name__ == "bool_":
            raise IndexError("boolean indices are not supported")
        try:
            i = operator.index(k)
        except TypeError:
            raise IndexError(f"only integers, slices and Ellipsis are valid indices, "
                             f"not {type(k).__name__}") from None
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
        dims.append(Dim(j, 1, 1, True))
    return dims


def result_shape(dims):
    """The shape of the array a read of dims returns."""
    return tuple(d.count for d in dims if not d.drop)
