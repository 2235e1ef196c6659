"""Unpickling that can build a scikit-learn model and nothing else: an allow-list of globals.

A pickle is a program: its ``GLOBAL``/``STACK_GLOBAL`` opcodes name any importable callable and
``REDUCE`` calls it, so ``joblib.load`` of a hostile file runs ``os.system`` (MLflow's
CVE-2024-37052..37060 are this). Every global a pickle names goes through :func:`resolve`
before it is imported, let alone called; a global that is not allowed raises
:class:`~mlsys.errors.UntrustedGlobal` (422) naming it, so its payload never runs.

Allowed: what fitted estimators of scikit-learn, numpy, scipy and pandas are made of (classes,
ufuncs and their unpickling helpers), joblib's ``NumpyArrayWrapper`` (in joblib files only),
a few inert builtins and standard-library value types, and the module prefixes of
``MLSYS_TRUSTED_MODULES`` (custom estimators). Refused even inside those packages (after
picklescan's list and skops' refusal of functions): anything that reads or writes files, reaches
the network, imports, evaluates or looks up attributes by name, changes global configuration or
unpickles without these checks (``DENIED_MODULES``, ``DENIED_NAMES``, ``DENIED_NAME_PREFIXES``).
Dotted names (protocol 4 ``"os.system"`` under an allowed module) and modules are refused too.
The rules are checked on the name the pickle gives AND on the resolved object's own
``__module__``, so a dangerous function re-exported by an allowed package is still refused.

Plain pickles run through the C unpickler; joblib files (compressed, or met as a
``NumpyArrayWrapper`` global in what looked like a plain pickle) through joblib's own
``NumpyUnpickler``, whose arrays (also object arrays, read by a nested unpickler that joblib
routes through the same ``find_class``) come from that wrapper.
"""

from __future__ import annotations

import _compat_pickle
import functools
import importlib
import io
import pickle
import types
from typing import IO, Any

from joblib.numpy_pickle import NumpyUnpickler
from joblib.numpy_pickle_utils import _detect_compressor, _validate_fileobject_and_memmap

from mlsys.errors import InvalidArtifact, UntrustedGlobal

#: Packages whose classes and functions a fitted model may name (minus the denials below).
ALLOWED_PACKAGES: tuple[str, ...] = ("sklearn", "numpy", "scipy", "pandas")

#: Builtins that only build values (never eval/exec/getattr/__import__/open/...).
SAFE_BUILTINS = (
    "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list",
    "object", "range", "set", "slice", "str", "tuple", "Ellipsis", "NotImplemented",
)  # fmt: skip

#: Single globals outside those packages: inert builtins and value types, the standard
#: unpickling helpers (protocols 0-2), and the pyarrow helpers of pandas' string arrays.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        *(("builtins", name) for name in SAFE_BUILTINS),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),  # bytes in protocol 0-2 pickles
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        *(("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")),
        ("pyarrow.lib", "_restore_array"),
        ("pyarrow.lib", "py_buffer"),
        ("pyarrow.lib", "type_for_alias"),
    ]
)

#: Read from joblib files only, where joblib's unpickler turns it into an array.
JOBLIB_ARRAY_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")

#: Submodules of allowed packages that no model needs and that do I/O, run code or tests,
#: import by name or change global state.
DENIED_MODULES: tuple[str, ...] = (
    "numpy.f2py",  # evaluates Fortran expressions with eval() (picklescan)
    "numpy.testing",  # runstring() is exec() (picklescan)
    "numpy.distutils",  # exec_command (numpy < 2)
    "numpy.ctypeslib",  # load_library() loads any shared library
    "numpy._pytesttester",
    "numpy.lib.npyio",  # load/save/loadtxt/savetxt/genfromtxt: files, pickles
    "numpy.lib._npyio_impl",
    "numpy.lib.format",  # read_array(allow_pickle=True), open_memmap
    "numpy.lib._format_impl",
    "numpy.lib._datasource",  # opens URLs and files
    "numpy.lib._utils_impl",
    "pandas.io",  # read_pickle (an unchecked pickle, also from a URL), every reader/writer
    "pandas.core.computation",  # pandas.eval / query
    "pandas.compat",  # import_optional_dependency imports by name
    "pandas._config",  # set_option: global state, backends imported by name
    "pandas.plotting",
    "pandas._testing",
    "pandas.testing",
    "pandas.util._tester",
    "pandas.util._print_versions",
    "scipy.io",  # loadmat/savemat/wavfile: files
    "scipy.datasets",  # downloads
    "scipy.misc",
    "scipy.weave",  # compiled and ran C code (old scipy)
    "scipy._lib",  # test runners, import-by-name deprecation shims, process pools, ccallback
    "sklearn.datasets",  # fetchers download and joblib.load their cache
    "sklearn.externals",
    "sklearn.utils._testing",
    "sklearn.utils.estimator_checks",
    "sklearn.utils._show_versions",
    "sklearn.utils.parallel",  # runs callables in worker processes
    "sklearn.utils._joblib",
    "sklearn.utils.discovery",  # imports every module
    "sklearn._config",  # set_config: global state (e.g. assume_finite)
)

#: Names refused in any module, trusted ones included (picklescan's list and the I/O of the
#: allowed packages that is exported at their top level, where ``__module__`` hides it).
DENIED_NAMES: frozenset[str] = frozenset(
    {
        "apply", "breakpoint", "call", "check_call", "check_memory", "check_output",
        "compile", "config_context", "DataSource", "delattr", "ExcelFile", "ExcelWriter",
        "fromfile", "fromregex", "genfromtxt", "getattr", "globals", "HDFStore", "input",
        "locals", "LowLevelCallable", "memmap", "option_context", "Popen", "reset_option",
        "set_config", "set_option", "setattr", "show_config", "show_runtime", "show_versions",
        "test", "to_pickle", "vars",
    }
)  # fmt: skip
DENIED_NAME_PREFIXES: tuple[str, ...] = (
    "__import__", "dump", "eval", "exec", "fetch_", "import", "load", "open", "popen",
    "read_", "run", "save", "spawn", "system", "write",
)  # fmt: skip

#: Modules no trust setting can open: they are the payloads of pickle exploits.
NEVER_TRUSTED: tuple[str, ...] = (
    "builtins", "__builtin__", "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy",
    "pickle", "_pickle", "shutil", "socket", "ctypes", "operator", "functools", "code", "pty",
)  # fmt: skip

_ALLOWED = frozenset(ALLOWED_PACKAGES)
_REFUSED = frozenset(DENIED_MODULES + NEVER_TRUSTED)


def _under(module: str, prefixes: frozenset[str]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one ("a.b.c" is inside "a.b")."""
    parts = module.split(".")
    return any(".".join(parts[:n]) in prefixes for n in range(1, len(parts) + 1))


def _name_allowed(module: str, name: str, trusted: frozenset[str], joblib: bool) -> bool:
    if (module, name) in ALLOWED_GLOBALS or (joblib and (module, name) == JOBLIB_ARRAY_WRAPPER):
        return True
    if "." in name or not name.isidentifier():
        return False  # "os.system" under an allowed module is an attribute walk
    if not all(part.isidentifier() for part in module.split(".")):
        return False  # relative or malformed module names
    if name in DENIED_NAMES or name.startswith(DENIED_NAME_PREFIXES):
        return False
    if _under(module, _REFUSED):
        return False
    return _under(module, _ALLOWED) or _under(module, trusted)


@functools.lru_cache(maxsize=4096)
def resolve(module: str, name: str, trusted: tuple[str, ...] = (), joblib: bool = False) -> Any:
    """The object a pickle's global names, if allowed; :class:`UntrustedGlobal` otherwise."""
    return _resolve(*_py3_names(module, name), frozenset(trusted), joblib)


def _resolve(module: str, name: str, trusted: frozenset[str], joblib: bool) -> Any:
    qualified = f"{module}.{name}"
    if not _name_allowed(module, name, trusted, joblib):
        raise _untrusted(qualified)
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidArtifact(
            f"the artifact needs {qualified}, which this service cannot import ({exc}); "
            "expected a model built with the library versions the service runs"
        ) from None
    if isinstance(obj, types.ModuleType):
        raise _untrusted(qualified)
    # A re-export (an allowed module importing a dangerous function) is judged where it lives.
    home = getattr(obj, "__module__", None)
    if (
        isinstance(home, str)
        and home != module
        and (module, name) not in ALLOWED_GLOBALS
        and not _name_allowed(home, name, trusted, joblib)
    ):
        raise _untrusted(f"{home}.{name}")
    return obj


def _py3_names(module: str, name: str) -> tuple[str, str]:
    """Python 2 names that protocols 0-2 write (``__builtin__``), mapped as pickle does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _untrusted(qualified: str) -> UntrustedGlobal:
    return UntrustedGlobal(
        f"the artifact's pickle refers to {qualified}, which is not allowed: a model may only "
        "use scikit-learn, numpy, scipy and pandas types (and modules listed in "
        "MLSYS_TRUSTED_MODULES); nothing was run",
        details={"global": qualified},
    )


class _Unpickler(pickle.Unpickler):
    """The C unpickler, every global checked."""

    def __init__(self, file: IO[bytes], trusted: tuple[str, ...]) -> None:
        super().__init__(file)
        self._trusted = trusted

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == JOBLIB_ARRAY_WRAPPER:
            raise _NeedsJoblib
        return resolve(module, name, self._trusted)


class _JoblibUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored beside the pickle opcodes), every global checked."""

    def __init__(self, file: IO[bytes], trusted: tuple[str, ...]) -> None:
        super().__init__("", file, ensure_native_byte_order=True)
        self._trusted = trusted

    def find_class(self, module: str, name: str) -> Any:
        return resolve(module, name, self._trusted, joblib=True)


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
    trusted = tuple(trusted_modules)
    file = io.BytesIO(data)  # shares ``data``, no copy
    compressor = _detect_compressor(file)
    if compressor == "compat":
        raise InvalidArtifact("joblib files written before joblib 0.10 are not supported")
    if compressor == "not-compressed":
        try:
            return _Unpickler(file, trusted).load()
        except _NeedsJoblib:  # nothing ran but allowed constructors: read it again, as joblib
            file.seek(0)
    with _validate_fileobject_and_memmap(file, "", None) as (stream, _):
        if compressor != "not-compressed" and max_bytes is not None:
            stream = io.BufferedReader(_CappedReader(stream, max_bytes), 1024 * 1024)
        return _JoblibUnpickler(stream, trusted).load()
