"""Unpickling that can build a scikit-learn model and nothing else.

Every global a pickle names goes through the allow-list of :mod:`mlsys.pickle_allowlist`
before it is imported, let alone called, so a refused payload never runs. Plain pickles run
through the C unpickler; joblib files (compressed, or met as a ``NumpyArrayWrapper`` global in
what looked like a plain pickle) through joblib's own ``NumpyUnpickler``, whose arrays (also
object arrays, read by a nested unpickler that joblib routes through the same ``find_class``)
come from that wrapper. A guard puts back any shared class or function a pickle changed while
loading (BUILD can ``setattr`` on them) and refuses it; decompressed joblib files are capped at
``max_bytes``.
"""

from __future__ import annotations

import functools
import inspect
import io
import pickle
import types
from typing import IO, Any

from joblib.numpy_pickle import NumpyUnpickler
from joblib.numpy_pickle_utils import _detect_compressor, _validate_fileobject_and_memmap

from mlsys.errors import InvalidArtifact, UntrustedGlobal
from mlsys.pickle_allowlist import JOBLIB_ARRAY_WRAPPER, resolve

_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: C types whose attributes cannot be set
_NONE = object()  # "no such attribute" (None can be a value)


class _Guard:
    """The shared classes and functions a pickle named, as they were before it ran.

    BUILD with a ``(state, slotstate)`` pair calls ``setattr`` on whatever is on the stack, a
    class or function included: it would change them for every model of the process. After a
    load, anything changed is put back and the artifact refused.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[str, Any, dict[str, Any]]] = {}

    def watch(self, obj: Any, qualified: str) -> Any:
        if id(obj) not in self._seen and (state := _settable_state(obj)) is not None:
            self._seen[id(obj)] = (qualified, obj, state)
        return obj

    def check(self) -> None:
        changed = []
        for qualified, obj, before in self._seen.values():
            after = _settable_state(obj) or {}
            keys = sorted(
                k
                for k in before.keys() | after.keys()
                if before.get(k, _NONE) is not after.get(k, _NONE)
            )
            for key in keys:  # put everything back before refusing
                setattr(obj, key, before[key]) if key in before else delattr(obj, key)
            changed += [f"{qualified} ({', '.join(keys)})"] if keys else []
        if changed:
            raise UntrustedGlobal(
                f"the artifact's pickle changes {'; '.join(changed)}: classes or functions "
                "shared by every model; refused, and the changes undone",
                details={"global": changed[0].split(" ", 1)[0]},
            )


def _settable_state(obj: Any) -> dict[str, Any] | None:
    if not _settable(obj):
        return None
    if isinstance(obj, type):
        return dict(vars(obj))
    state = dict(obj.__dict__)
    state.update(__defaults__=obj.__defaults__, __kwdefaults__=obj.__kwdefaults__)
    return state


@functools.lru_cache(maxsize=4096)
def _settable(obj: Any) -> bool:
    """Whether BUILD could ``setattr`` on ``obj``: Python functions, and classes that are not
    immutable C types and have no instance-method ``__setstate__`` (BUILD would call that one,
    unbound, and fail: every scikit-learn estimator has one)."""
    if isinstance(obj, type):
        setstate = inspect.getattr_static(obj, "__setstate__", None)
        mutable = not obj.__flags__ & _IMMUTABLE_TYPE
        return mutable and not isinstance(setstate, types.FunctionType)
    return isinstance(obj, types.FunctionType)


class _Unpickler(pickle.Unpickler):
    """The C unpickler, every global checked."""

    def __init__(self, file: IO[bytes], trusted: tuple[str, ...], guard: _Guard) -> None:
        super().__init__(file)
        self._trusted, self._guard = trusted, guard

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == JOBLIB_ARRAY_WRAPPER:
            raise _NeedsJoblib
        return self._guard.watch(resolve(module, name, self._trusted), f"{module}.{name}")


class _JoblibUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored beside the pickle opcodes), every global checked."""

    def __init__(self, file: IO[bytes], trusted: tuple[str, ...], guard: _Guard) -> None:
        super().__init__("", file, ensure_native_byte_order=True)
        self._trusted, self._guard = trusted, guard

    def find_class(self, module: str, name: str) -> Any:
        found = resolve(module, name, self._trusted, joblib=True)
        return self._guard.watch(found, f"{module}.{name}")


class _CappedReader(io.RawIOBase):
    """A decompressed stream that stops at ``limit`` bytes (a small file must not expand
    into all the memory of the service)."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner, self._left, self._limit = inner, limit, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self._inner.readinto(view[: self._left + 1])  # type: ignore[attr-defined]
        self._left -= count
        if self._left < 0:
            raise InvalidArtifact(
                f"the artifact decompresses to more than {self._limit} bytes "
                "(MLSYS_MAX_ARTIFACT_BYTES)"
            )
        return int(count)


class _NeedsJoblib(Exception):
    """A plain-pickle read met joblib's array wrapper: start again with joblib's unpickler."""


def loads(
    data: bytes, *, trusted_modules: tuple[str, ...] = (), max_bytes: int | None = None
) -> Any:
    """Unpickle a plain pickle or a joblib file (any compression) through the allow-list.

    Raises :class:`UntrustedGlobal` for a global that is not allowed and
    :class:`InvalidArtifact` for bytes that are not a loadable pickle.
    """
    trusted, guard = tuple(trusted_modules), _Guard()
    try:
        return _load(io.BytesIO(data), trusted, guard, max_bytes)  # BytesIO shares ``data``
    finally:
        guard.check()  # also after a failed load: undo what it changed before failing


def _load(file: io.BytesIO, trusted: tuple[str, ...], guard: _Guard, max_bytes: int | None) -> Any:
    compressor = _detect_compressor(file)
    if compressor == "compat":
        raise InvalidArtifact("joblib files written before joblib 0.10 are not supported")
    if compressor == "not-compressed":
        try:
            return _Unpickler(file, trusted, guard).load()
        except _NeedsJoblib:  # nothing ran but allowed constructors: read it again, as joblib
            file.seek(0)
    with _validate_fileobject_and_memmap(file, "", None) as (stream, _):
        if compressor != "not-compressed" and max_bytes is not None:
            stream = io.BufferedReader(_CappedReader(stream, max_bytes), 1024 * 1024)
        return _JoblibUnpickler(stream, trusted, guard).load()
