"""The package's compiled extensions (dln/solve/_kernel.c, dln/model/_ode.c), loaded with
ctypes: one loader and one way to pass an array, for both."""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np


def load_extension(module: str) -> ctypes.CDLL | None:
    """The extension `module` (e.g. "dln.solve._kernel"), or None when the package was
    installed without a C compiler (the extensions are optional: each has a fallback)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return ctypes.CDLL(spec.origin)


def pointer(a: np.ndarray) -> ctypes.c_void_p:
    """The address of a C-contiguous array, as a C function of the extensions takes it. The
    returned object keeps the array alive (data_as), so a temporary may be passed."""
    return a.ctypes.data_as(ctypes.c_void_p)
