"""Loading pickles and torch pickles without running the code inside them.

A pickle is a program: unpickling calls whatever callables the file names, so a file from
someone else can run anything (``os.system`` in a ``__reduce__``). The importers therefore:

1. refuse every pickle unless the caller opted in (``allow_pickle=True`` /
   ``--allow-pickle``), with :class:`PickleRefused` saying why;
2. even with the opt-in, never call ``pickle.load`` on the file. They use
   :class:`RestrictedUnpickler`, which rebuilds only plain data (containers, numbers, text,
   NumPy arrays, ``argparse.Namespace``, tensors through ``torch.load(weights_only=True)``)
   and turns every other referenced class or function into an inert :class:`Opaque`
   placeholder that is never called. Peer tools' result files are plain data, so nothing
   that uqlens reads is lost; what was replaced is reported as a warning.
3. torch files (LM-Polygraph) are read with ``torch.load(weights_only=True)`` first, and
   only when that refuses the file, again through torch with the restricted unpickler.
"""

from __future__ import annotations

import io
import pickle
import types
import warnings
import zipfile
from pathlib import Path

PICKLE_WHY = (
    "pickle files can execute arbitrary code when they are loaded; uqlens only opens them "
    "when you pass --allow-pickle (allow_pickle=True), and even then rebuilds plain data "
    "only, never calling the functions the file names"
)


class PickleRefused(PermissionError):
    """A pickle (or torch pickle) was not opened because the caller did not opt in."""

    def __init__(self, path: str | Path, kind: str = "pickle"):
        self.path = str(path)
        super().__init__(f"{path}: refusing to open a {kind} file: {PICKLE_WHY}")


class Opaque:
    """Stands in for any class or function a pickle names that uqlens does not rebuild.

    Calling it (REDUCE), instantiating it (NEWOBJ) or setting its state (BUILD) only records
    the arguments; nothing from the file is ever executed.
    """

    _name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__["_args"] = args
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__["_state"] = state

    def __setitem__(self, key, value):  # dict-like subclasses get SETITEMS
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value):  # list-like subclasses get APPENDS
        self.__dict__.setdefault("_items_list", []).append(value)

    def extend(self, values):
        for value in values:
            self.append(value)

    def __repr__(self) -> str:
        return f"<opaque {self._name}>"


def _opaque(module: str, name: str) -> type:
    return type(f"Opaque[{module}.{name}]", (Opaque,), {"_name": f"{module}.{name}"})


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; other codecs refused."""
    if encoding.lower().replace("-", "") not in ("latin1", "iso88591") or not isinstance(
        text, str
    ):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r} in a pickle")
    return text.encode("latin1")


def _safe_globals() -> dict[tuple[str, str], object]:
    import argparse
    import builtins
    import collections
    import copyreg
    import datetime

    allowed: dict[tuple[str, str], object] = {}
    for name in (
        "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int",
        "float", "complex", "bool", "slice", "range",
    ):
        allowed[("builtins", name)] = getattr(builtins, name)
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("collections", "defaultdict")] = collections.defaultdict
    allowed[("copyreg", "_reconstructor")] = copyreg._reconstructor
    allowed[("_codecs", "encode")] = _latin1_encode  # protocol-2 bytes (NumPy array data)
    allowed[("argparse", "Namespace")] = argparse.Namespace
    for name in ("datetime", "date", "time", "timedelta", "timezone"):
        allowed[("datetime", name)] = getattr(datetime, name)
    try:
        import numpy as np

        allowed[("numpy", "ndarray")] = np.ndarray
        allowed[("numpy", "dtype")] = np.dtype
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[(mod, "_reconstruct")] = np._core.multiarray._reconstruct
            allowed[(mod, "scalar")] = np._core.multiarray.scalar
        for name in dir(np.dtypes):
            if name.endswith("DType"):
                allowed[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    except (ImportError, AttributeError):  # pragma: no cover - numpy is a dependency
        pass
    return allowed


def _torch_globals() -> dict[tuple[str, str], object]:
    """Tensor rebuilding, with storages read by ``torch.load(weights_only=True)``."""
    try:
        import torch
        import torch._utils
    except ImportError:  # pragma: no cover - torch is an optional dependency
        return {}

    def load_storage(data: bytes):
        return torch.load(io.BytesIO(data), weights_only=True)

    allowed: dict[tuple[str, str], object] = {
        ("torch.storage", "_load_from_bytes"): load_storage,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
    }
    for dtype_name in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "bool"):
        allowed[("torch", dtype_name)] = getattr(torch, dtype_name)
    for name in dir(torch):
        if name.endswith("Storage") and isinstance(getattr(torch, name, None), type):
            allowed[("torch", name)] = getattr(torch, name)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds plain data; every other global becomes an :class:`Opaque` placeholder."""

    def __init__(self, file, *, allow_torch: bool = True, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = _safe_globals()
        if allow_torch:
            self._allowed.update(_torch_globals())
        self.replaced: set[str] = set()

    def find_class(self, module: str, name: str):
        import _compat_pickle  # Python 2 names (``__builtin__``, ``copy_reg``)

        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        found = self._allowed.get((module, name))
        if found is not None:
            return found
        self.replaced.add(f"{module}.{name}")
        return _opaque(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not supported in plain pickles")


def _warn_replaced(path: str | Path, replaced: set[str]) -> None:
    if replaced:
        shown = ", ".join(sorted(replaced)[:8]) + (" ..." if len(replaced) > 8 else "")
        warnings.warn(
            f"{path}: objects of types uqlens does not rebuild were replaced by placeholders "
            f"(their code was not run): {shown}",
            stacklevel=3,
        )


def load_pickle(path: str | Path, *, allow_pickle: bool) -> object:
    """Read a plain pickle with :class:`RestrictedUnpickler` (only after the opt-in)."""
    if not allow_pickle:
        raise PickleRefused(path)
    warnings.warn(
        f"{path}: opening a pickle because --allow-pickle was given "
        "(restricted: plain data only)",
        stacklevel=2,
    )
    with open(path, "rb") as handle:
        unpickler = RestrictedUnpickler(handle)
        data = unpickler.load()
    _warn_replaced(path, unpickler.replaced)
    return data


def load_torch(path: str | Path, *, allow_pickle: bool) -> object:
    """Read a ``torch.save`` file: ``weights_only=True`` first, then the restricted unpickler.

    Both need the opt-in: a torch file is a pickle inside a zip.
    """
    if not allow_pickle:
        raise PickleRefused(path, "torch pickle")
    import collections

    import numpy as np
    import torch

    safe = [
        list, dict, set, tuple, int, float, str,  # defaultdict factories
        collections.defaultdict,
        collections.OrderedDict,
        np._core.multiarray._reconstruct,
        np._core.multiarray.scalar,
        np.ndarray,
        np.dtype,
    ]
    safe += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        first_error = exc
    warnings.warn(
        f"{path}: torch.load(weights_only=True) refused the file ({_short(first_error)}); "
        "reading it again with uqlens' restricted unpickler because --allow-pickle was given",
        stacklevel=2,
    )
    holder: dict[str, set[str]] = {"replaced": set()}

    class _Tracking(RestrictedUnpickler):
        def load(self):
            try:
                return super().load()
            finally:
                holder["replaced"] |= self.replaced

    # A ``pickle_module`` for torch.load whose Unpickler is the restricted one.
    module = types.ModuleType("uqlens_restricted_pickle")
    module.Unpickler = _Tracking
    module.UnpicklingError = pickle.UnpicklingError
    module.load = lambda file, **kwargs: _Tracking(file, **kwargs).load()
    data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=module)
    _warn_replaced(path, holder["replaced"])
    return data


def _short(exc: BaseException) -> str:
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # torch's long message: keep the line that says what it refused
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def is_pickle_bytes(head: bytes) -> bool:
    """True when the bytes start like a pickle (protocol 2+ starts with ``\\x80``)."""
    return head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5


def is_torch_zip(path: str | Path) -> bool:
    """True for a ``torch.save`` zip archive (it holds ``*/data.pkl``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("data.pkl") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
