"""Types of the C module ``_probe.c`` (the bulk filter's inner loops). Arrays are NumPy
arrays or any object with the buffer protocol: int64 positions, uint64 hashes."""

from typing import Any

import numpy as np
from typing_extensions import Buffer

_Array = np.ndarray[Any, Any] | Buffer

def hash_ranges(data: bytes, starts: _Array, ends: _Array, tag: int, out: _Array) -> None: ...
def probe(
    data: bytes, starts: _Array, ends: _Array, tag: int, bitmap: _Array, shift: int, out: _Array
) -> int: ...
def line_ends(data: bytes, out: _Array) -> int: ...
def dashes(
    data: bytes,
    starts: _Array,
    ends: _Array,
    first: _Array,
    second: _Array,
    last: _Array,
    penultimate: _Array,
) -> None: ...
