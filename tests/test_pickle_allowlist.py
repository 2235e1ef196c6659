"""The allow-list's rules, global by global: what a model is made of passes, the rest not."""

from __future__ import annotations

import pytest

from mlsys.errors import UntrustedGlobal
from mlsys.pickle_allowlist import resolve

REFUSED_INSIDE_ALLOWED_PACKAGES = [
    ("numpy", "load"),  # allow_pickle=True unpickles a local file unchecked
    ("numpy", "save"),
    ("numpy", "fromfile"),
    ("numpy", "memmap"),  # creates and writes files
    ("numpy.lib._npyio_impl", "genfromtxt"),
    ("numpy.ctypeslib", "load_library"),
    ("numpy.f2py", "compile"),
    ("numpy.testing._private.utils", "runstring"),
    ("pandas", "read_pickle"),  # an unchecked pickle, also from a URL
    ("pandas", "read_csv"),
    ("pandas", "eval"),
    ("pandas", "set_option"),
    ("pandas.io.pickle", "read_pickle"),
    ("scipy.io", "loadmat"),
    ("scipy", "LowLevelCallable"),
    ("sklearn.datasets", "fetch_openml"),
    ("sklearn", "set_config"),
    ("sklearn.utils.validation", "check_memory"),  # creates joblib.Memory directories
    ("joblib", "load"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),  # outside a joblib file
    ("numpy", "random"),  # a module, not a value
    ("numpy._core.numerictypes", "sctypeDict"),  # a shared dict SETITEM would change
    ("numpy.random.mtrand", "_rand"),  # the process-wide RandomState
    ("operator", "attrgetter"),
    ("functools", "partial"),
    ("builtins", "getattr"),
    ("builtins", "open"),
    ("builtins", "type"),
    ("posix", "system"),
    ("collections", "Counter"),  # harmless, but not on the list
]


@pytest.mark.parametrize("module, name", REFUSED_INSIDE_ALLOWED_PACKAGES)
def test_dangerous_globals_are_refused_even_inside_allowed_packages(module, name):
    with pytest.raises(UntrustedGlobal, match="not allowed"):
        resolve(module, name)


@pytest.mark.parametrize(
    "module, name",
    [
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "dtype"),
        ("numpy", "log1p"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("pandas", "DataFrame"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("sklearn.feature_selection._univariate_selection", "f_classif"),
        ("__builtin__", "set"),
        ("copy_reg", "_reconstructor"),
        ("datetime", "datetime"),
    ],
)
def test_what_models_are_made_of_is_allowed(module, name):
    assert resolve(module, name) is not None


@pytest.mark.parametrize("module", ["", ".os", "numpy..os", "numpy.", "numpy/../os"])
def test_malformed_module_names_are_refused_before_any_import(module):
    with pytest.raises(UntrustedGlobal):
        resolve(module, "system")
