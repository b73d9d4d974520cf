"""The dropout features are one Ibis pipeline: on Spark (local mode) they are the same rows, to the
last value, as on the embedded DuckDB."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import ibis
import pandas as pd
import pytest

from dases.pooling.features import KEYS, build_features, load_oulad, pseudonymise_tables

from .oulad_support import write_modules

MODULES = ["AAA", "GGG"]


def pseudonymise(ids: list[int]) -> list[str]:
    return [hmac.new(b"spark-test-key-0123456789", str(i).encode(), hashlib.sha256).hexdigest()[:24] for i in ids]


@pytest.fixture(scope="module")
def oulad_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two modules of OULAD, the five tables the features read."""
    return write_modules(tmp_path_factory.mktemp("oulad"), MODULES)


@pytest.fixture(scope="module")
def spark() -> Iterator[ibis.BaseBackend]:
    con = ibis.pyspark.connect()
    yield con
    con.disconnect()


def features(folder: Path, con: ibis.BaseBackend | None) -> pd.DataFrame:
    frame = build_features(pseudonymise_tables(load_oulad(folder, con), pseudonymise), 30).to_pandas()
    return frame.sort_values(list(KEYS)).reset_index(drop=True)


def test_spark_and_duckdb_build_the_same_feature_rows(oulad_subset: Path, spark: ibis.BaseBackend) -> None:
    on_duckdb = features(oulad_subset, None)
    on_spark = features(oulad_subset, spark)
    assert len(on_duckdb) > 1000
    assert list(on_spark.columns) == list(on_duckdb.columns)
    assert len(on_spark) == len(on_duckdb)
    for column in on_duckdb.columns:
        left, right = on_duckdb[column], on_spark[column]
        if pd.api.types.is_numeric_dtype(left):
            both_missing = left.isna() & right.isna()
            close = (left.astype(float) - right.astype(float)).abs() < 1e-9
            assert (both_missing | close).all(), column
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), column
