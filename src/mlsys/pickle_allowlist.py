"""Which globals a model's pickle may name: the allow-list of :mod:`mlsys.safe_pickle`.

A pickle is a program: its ``GLOBAL``/``STACK_GLOBAL`` opcodes name any importable object and
``REDUCE`` calls it, so unpickling a hostile file runs ``os.system`` (MLflow's
CVE-2024-37052..37060 are this). :func:`resolve` decides every global before it is imported,
let alone called; a refused one raises :class:`~mlsys.errors.UntrustedGlobal` (422) naming it.

Allowed: what fitted estimators of scikit-learn, numpy, scipy and pandas are made of (classes,
ufuncs and their unpickling helpers), joblib's ``NumpyArrayWrapper`` (in joblib files only),
a few inert builtins and standard-library value types, and the module prefixes of
``MLSYS_TRUSTED_MODULES`` (custom estimators). Refused even inside those packages (after
picklescan's list and skops' refusal of functions): anything that reads or writes files, reaches
the network, imports, evaluates or looks up attributes by name, changes global configuration or
unpickles without these checks (``DENIED_MODULES``, ``DENIED_NAMES``, ``DENIED_NAME_PREFIXES``);
``NEVER_TRUSTED`` modules stay refused whatever the setting says. Dotted names (protocol 4
``"os.system"`` under an allowed module), modules, and a module's instances and containers
(shared state a pickle could change) are refused too. The rules are checked on the name the
pickle gives AND on the resolved object's own ``__module__``, so a dangerous function
re-exported by an allowed package is still refused.
"""

from __future__ import annotations

import _compat_pickle
import functools
import importlib
import types
from typing import Any

import numpy

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
        ("pandas", "NA"),  # immutable singletons
        ("pandas", "NaT"),
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

_CYTHON_FUNCTIONS = frozenset({"cython_function_or_method", "fused_cython_function"})
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
    if not (_is_class_or_function(obj) or (module, name) in ALLOWED_GLOBALS):
        raise _untrusted(qualified)  # a module, or shared state a pickle could change
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


def _is_class_or_function(obj: Any) -> bool:
    """What a model's pickle names: classes and functions (ufuncs and Cython's included), not
    a module's instances or containers, which SETITEM or BUILD would change process-wide."""
    return (
        isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, numpy.ufunc))
        or type(obj).__name__ in _CYTHON_FUNCTIONS
    )


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
