"""The Titanic survival example: data loading, split and a raw-column scikit-learn Pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlsys.settings import find_project_root

MODEL_NAME = "titanic-survival"
TARGET = "Survived"
NUMERIC = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
CATEGORICAL = ["Sex", "Embarked"]
FEATURES = NUMERIC + CATEGORICAL


def csv_path(root: Path | None = None) -> Path:
    return (root or find_project_root()) / "notebooks" / "data" / "titanic.csv"


def load_csv(path: Path | None = None) -> pd.DataFrame:
    """The Kaggle Titanic training set (891 rows) with stable dtypes."""
    df = pd.read_csv(path or csv_path())
    for col in ("PassengerId", "Survived", "Pclass", "SibSp", "Parch"):
        df[col] = df[col].astype("int64")
    for col in ("Age", "Fare"):
        df[col] = df[col].astype("float64")
    return df


def split(df: pd.DataFrame, test_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic split by PassengerId, so every run and every machine agrees."""
    is_test = (df["PassengerId"] * 2654435761 % 1000) < int(test_fraction * 1000)
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def build_pipeline() -> Pipeline:
    """A Pipeline that takes raw Titanic columns (NULLs included) and predicts survival."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pre = ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)])
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))])


def feature_schema(df: pd.DataFrame) -> list[dict[str, str]]:
    """``metadata.json`` ``features``: ordered ``{name, dtype}``."""
    return [{"name": c, "dtype": str(df[c].dtype)} for c in FEATURES]
