"""The allow-list unpickler: every model the project uses loads, no exploit runs.

Each exploit below is first shown to run under plain ``pickle.loads`` (it writes a marker
file), so its refusal by ``safe_pickle`` means something.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import numpy.testing._private.utils as np_utils
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlsys import safe_pickle
from mlsys.errors import InvalidArtifact, UntrustedGlobal
from mlsys.examples import titanic

RNG = np.random.default_rng(0)
X = RNG.random((120, 4))
Y = (X[:, 0] > 0.5).astype(int)
FRAME = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(cat=RNG.choice(["x", "y", None], 120))


def _column_pipeline() -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["a", "b", "c", "d"]),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                ["cat"],
            ),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(FRAME, Y)


def _titanic() -> Pipeline:
    train, _ = titanic.split(titanic.load_csv())
    return titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])


# Every kind of model the tests, the benchmarks and the demo use (grep: RandomForest,
# LogisticRegression, HistGradientBoosting, Pipeline + ColumnTransformer, ...).
MODELS: dict[str, Callable[[], object]] = {
    "titanic demo pipeline": _titanic,
    "pipeline + column transformer + one-hot + imputer": _column_pipeline,
    "random forest (RandomState)": lambda: RandomForestClassifier(
        10, random_state=np.random.RandomState(0)
    ).fit(X, Y),
    "extra trees": lambda: ExtraTreesClassifier(5).fit(X, Y),
    "gradient boosting, 3 classes": lambda: GradientBoostingClassifier(n_estimators=5).fit(
        X, (X[:, 0] * 3).astype(int)
    ),
    "hist gradient boosting classifier": lambda: HistGradientBoostingClassifier(max_iter=5).fit(
        X, Y
    ),
    "hist gradient boosting regressor": lambda: HistGradientBoostingRegressor(max_iter=5).fit(
        X, X[:, 1]
    ),
    "logistic regression": lambda: LogisticRegression().fit(X, Y),
    "linear regression": lambda: LinearRegression().fit(X, X[:, 1]),
    "gaussian naive bayes": lambda: GaussianNB().fit(X, Y),
    "decision tree": lambda: DecisionTreeClassifier().fit(X, Y),
    "imputer + forest (sharded job tests)": lambda: make_pipeline(
        SimpleImputer(), RandomForestClassifier(5)
    ).fit(X, Y),
    "function transformer with a numpy ufunc": lambda: make_pipeline(
        FunctionTransformer(np.log1p), LogisticRegression()
    ).fit(X, Y),
}


def _pickle(protocol: int) -> Callable[[object], bytes]:
    return lambda model: pickle.dumps(model, protocol=protocol)


def _joblib(compress: object) -> Callable[[object], bytes]:
    def dump(model: object) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(model, buffer, compress=compress)
        return buffer.getvalue()

    return dump


SERIALIZERS = {
    "pickle protocol 5": _pickle(5),
    "pickle protocol 2": _pickle(2),
    "pickle protocol 0": _pickle(0),
    "joblib": _joblib(0),
    "joblib zlib": _joblib(3),
    "joblib lzma": _joblib(("lzma", 1)),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    return {name: build() for name, build in MODELS.items()}


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("model_name", MODELS)
def test_every_model_loads_through_the_allow_list(fitted, model_name, serializer):
    model = fitted[model_name]
    data = SERIALIZERS[serializer](model)
    loaded = safe_pickle.loads(data, max_bytes=10**9)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(cat="x")
    if model_name == "titanic demo pipeline":
        frame = titanic.split(titanic.load_csv())[1][titanic.FEATURES]
    elif model_name != "pipeline + column transformer + one-hot + imputer":
        frame = X
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(frame), model.predict(frame))


# -- exploits -----------------------------------------------------------------------------


class _Reduce:
    """Unpickling this calls ``func(*args)``."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _touch_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def _dotted(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: STACK_GLOBAL(module, "a.b.c") walks attributes, then calls it with arg."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    return b"\x80\x04" + text(module) + text(name) + b"\x93" + text(arg) + b"\x85R."


EXPLOITS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "os.system": (
        lambda m: pickle.dumps(_Reduce(os.system, f"touch {m}")),
        f"{os.system.__module__}.system",
    ),
    "builtins.eval": (lambda m: pickle.dumps(_Reduce(eval, _touch_code(m))), "builtins.eval"),
    "builtins.exec": (lambda m: pickle.dumps(_Reduce(exec, _touch_code(m))), "builtins.exec"),
    "__builtin__.eval (protocol 0)": (
        lambda m: b"c__builtin__\neval\n(V" + _touch_code(m).encode() + b"\ntR.",
        "builtins.eval",
    ),
    "subprocess.Popen": (
        lambda m: pickle.dumps(_Reduce(subprocess.Popen, ["touch", str(m)])),
        "subprocess.Popen",
    ),
    "getattr gadget (a bound method)": (
        lambda m: pickle.dumps(_Reduce(Path(m).write_text, "pwned")),
        "builtins.getattr",
    ),
    "builtins.__import__": (
        lambda m: pickle.dumps(_Reduce(__import__, "os")),
        "builtins.__import__",
    ),
    "attribute walk inside an allowed package": (
        lambda m: _dotted("numpy", "testing._private.utils.os.system", f"touch {m}"),
        "numpy.testing._private.utils.os.system",
    ),
    "exec inside an allowed package (numpy.testing runstring)": (
        lambda m: pickle.dumps(_Reduce(np_utils.runstring, _touch_code(m), {})),
        "numpy.testing._private.utils.runstring",
    ),
    "exploit in an object array of a joblib file": (
        lambda m: _joblib(0)({"arr": np.array([_Reduce(os.system, f"touch {m}")], dtype=object)}),
        f"{os.system.__module__}.system",
    ),
    "exploit in a compressed joblib file": (
        lambda m: _joblib(3)(_Reduce(os.system, f"touch {m}")),
        f"{os.system.__module__}.system",
    ),
}


def _ran(marker: Path, wait: float = 0.5) -> bool:
    deadline = time.monotonic() + wait  # Popen returns before its child has run
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return marker.exists()


@pytest.mark.parametrize("exploit", [e for e in EXPLOITS if e != "builtins.__import__"])
def test_each_exploit_runs_under_plain_unpickling(tmp_path, exploit):
    marker = tmp_path / "pwned"
    data = EXPLOITS[exploit][0](marker)
    joblib.load(io.BytesIO(data)) if "joblib" in exploit else pickle.loads(data)
    assert _ran(marker, wait=10)


@pytest.mark.parametrize("exploit", EXPLOITS)
def test_each_exploit_is_refused_naming_its_global(tmp_path, exploit):
    marker = tmp_path / "pwned"
    make, qualified = EXPLOITS[exploit]
    with pytest.raises(UntrustedGlobal) as refused:
        safe_pickle.loads(make(marker))
    assert refused.value.details == {"global": qualified}
    assert qualified in refused.value.message and refused.value.http_status == 422
    assert not _ran(marker)


class CustomModel:
    """A custom estimator from a module that is not trusted by default."""

    def predict(self, rows):
        return [1] * len(rows)


def test_custom_estimators_load_once_their_module_is_trusted():
    data = pickle.dumps(CustomModel())
    with pytest.raises(UntrustedGlobal, match=f"{__name__}.CustomModel"):
        safe_pickle.loads(data)
    loaded = safe_pickle.loads(data, trusted_modules=("tests",))
    assert loaded.predict([0, 0]) == [1, 1]


@pytest.mark.parametrize("trusted", [("os",), ("subprocess",), ("builtins",), ("posix",)])
def test_trusting_an_exploit_module_changes_nothing(tmp_path, trusted):
    marker = tmp_path / "pwned"
    for exploit in ("os.system", "subprocess.Popen"):
        with pytest.raises(UntrustedGlobal):
            safe_pickle.loads(EXPLOITS[exploit][0](marker), trusted_modules=trusted)
    assert not _ran(marker)


def test_a_small_compressed_file_cannot_expand_past_the_limit():
    data = _joblib(3)(np.zeros(2_000_000))  # 16 MB of zeros, a few KB compressed
    assert len(data) < 100_000
    with pytest.raises(InvalidArtifact, match="decompresses to more than 1000000 bytes"):
        safe_pickle.loads(data, max_bytes=1_000_000)
    assert safe_pickle.loads(data, max_bytes=10**8).shape == (2_000_000,)


def _build_setattr(module: str, name: str, attribute: str, value: bytes = b"\x88") -> bytes:
    """GLOBAL module.name, then BUILD with (None, {attribute: value}): setattr on it
    (``value`` an opcode: True by default, ``N`` for None)."""
    key = attribute.encode()
    return (
        b"\x80\x04c" + f"{module}\n{name}\n".encode()
        + b"N}\x8c" + bytes([len(key)]) + key + value + b"s\x86b."
    )  # fmt: skip


@pytest.mark.parametrize(
    "module, name, attribute",
    [
        ("sklearn._loss.link", "LogitLink", "inverse"),  # every HistGradientBoosting's link
        ("sklearn.utils.validation", "check_array", "__defaults__"),  # a function's defaults
    ],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["pickle", "joblib zlib"])
def test_a_pickle_cannot_change_shared_classes_or_functions(module, name, attribute, compressed):
    import importlib
    import zlib

    target = getattr(importlib.import_module(module), name)
    before = target.__dict__.get(attribute, getattr(target, attribute))
    data = _build_setattr(module, name, attribute, value=b"N")
    with pytest.raises(UntrustedGlobal, match=f"changes {module}.{name} \\({attribute}\\)"):
        safe_pickle.loads(zlib.compress(data) if compressed else data)
    assert target.__dict__.get(attribute, getattr(target, attribute)) is before  # undone


def test_an_added_attribute_is_removed_even_when_it_is_none():
    from sklearn._loss.link import LogitLink

    with pytest.raises(UntrustedGlobal, match="LogitLink \\(pwned\\)"):
        safe_pickle.loads(_build_setattr("sklearn._loss.link", "LogitLink", "pwned", value=b"N"))
    assert "pwned" not in vars(LogitLink)


def test_plain_unpickling_would_change_the_shared_class():
    from sklearn._loss.link import LogitLink

    pickle.loads(_build_setattr("sklearn._loss.link", "LogitLink", "pwned"))
    try:
        assert LogitLink.pwned is True
    finally:
        del LogitLink.pwned
