"""Shared fixture: run a block as if PyCryptodome were not installed.

The ML-KEM / ML-DSA KAT entry points use PyCryptodome's C code when it is
importable and kyber-py / dilithium-py otherwise; hiding the ``Crypto``
package from the lazy detection is how tests reach (and compare) the
pure-Python fallback through the normal code path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType

import pytest

from pqiot.reference.crypto import pycryptodome_backend

HidePyCryptodome = Callable[[], AbstractContextManager[None]]


def _clear_detection() -> None:
    pycryptodome_backend.mlkem_backend.cache_clear()
    pycryptodome_backend.mldsa_backend.cache_clear()


@contextmanager
def _pycryptodome_hidden() -> Iterator[None]:
    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> ModuleType:
        if name == "Crypto" or name.startswith("Crypto."):
            raise ImportError(f"No module named {name!r} (hidden by the test)")
        return real_import(name, package)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pycryptodome_backend.importlib, "import_module", import_module)
        _clear_detection()
        try:
            yield
        finally:
            _clear_detection()


@pytest.fixture
def hide_pycryptodome() -> HidePyCryptodome:
    """``with hide_pycryptodome(): ...`` runs the block with PyCryptodome undetectable."""
    return _pycryptodome_hidden
