"""k-anonymity, l-diversity and t-closeness on the real OULAD studentInfo table, and the
generalisation that reaches a target k with the least loss, each checked against a second,
deliberately different implementation written here: the CSV read with the `csv` module, classes
counted in plain dicts, the lattice walked in Python, no Polars."""

from __future__ import annotations

import csv
import itertools
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.privacy.anonymity import Hierarchy, generalise, k_anonymity, l_diversity, t_closeness
from dases.privacy.hierarchies import (
    OULAD_FINAL_RESULT_ORDER,
    OULAD_HIERARCHIES,
    OULAD_QUASI_IDENTIFIERS,
    oulad_hierarchies,
)

STUDENT_INFO = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad" / "studentInfo.csv"
QIS = list(OULAD_QUASI_IDENTIFIERS)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with STUDENT_INFO.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return pl.read_csv(STUDENT_INFO, infer_schema_length=0)


# --- the second implementation ---------------------------------------------------------------


def classes_of(records: list[dict[str, str]] | list[tuple[str, ...]], qis: list[str]) -> dict[tuple[str, ...], list[int]]:
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[tuple(record[q] for q in qis)].append(index)  # type: ignore[call-overload]
    return groups


def independent_k(records: list[dict[str, str]], qis: list[str]) -> int:
    return min(len(members) for members in classes_of(records, qis).values())


def independent_l(records: list[dict[str, str]], qis: list[str], sensitive: str) -> int:
    return min(len({records[i][sensitive] for i in members}) for members in classes_of(records, qis).values())


def independent_t(records: list[dict[str, str]], qis: list[str], sensitive: str, order: list[str] | None) -> float:
    values = order or sorted({r[sensitive] for r in records})
    overall = Counter(r[sensitive] for r in records)
    q = [overall[v] / len(records) for v in values]
    worst = 0.0
    for members in classes_of(records, qis).values():
        local = Counter(records[i][sensitive] for i in members)
        p = [local[v] / len(members) for v in values]
        if order:
            running, distance = 0.0, 0.0
            for pi, qi in zip(p[:-1], q[:-1], strict=True):
                running += pi - qi
                distance += abs(running)
            distance /= len(values) - 1
        else:
            distance = sum(abs(pi - qi) for pi, qi in zip(p, q, strict=True)) / 2
        worst = max(worst, distance)
    return worst


def leaves(column: str, level: int) -> dict[str, int]:
    """How many original values each original value's level-`level` label covers."""
    table = OULAD_HIERARCHIES[column]
    per_label = Counter(row[level] for row in table)
    return {row[0]: per_label[row[level]] for row in table}


def brute_force(records: list[dict[str, str]], k: int, cap: int) -> tuple[float, dict[str, int]]:
    """The least NCP over every lattice node within the suppression cap, by plain iteration
    over the distinct original combinations (each lifted column precomputed as a list)."""
    combos = Counter(tuple(r[q] for q in QIS) for r in records)
    counts = list(combos.values())
    heights = [len(OULAD_HIERARCHIES[q][0]) - 1 for q in QIS]
    lifted_values: dict[str, list[list[str]]] = {}
    costs: dict[str, list[list[float]]] = {}
    for column_index, (q, h) in enumerate(zip(QIS, heights, strict=True)):
        domain = len(OULAD_HIERARCHIES[q])
        lifted_values[q], costs[q] = [], []
        for level in range(h + 1):
            label = {row[0]: row[level] for row in OULAD_HIERARCHIES[q]}
            cover = leaves(q, level)
            lifted_values[q].append([label[combo[column_index]] for combo in combos])
            costs[q].append([(cover[combo[column_index]] - 1) / (domain - 1) for combo in combos])
    best: tuple[float, dict[str, int]] = (2.0, {})
    for node in itertools.product(*[range(h + 1) for h in heights]):
        keys = list(zip(*[lifted_values[q][level] for q, level in zip(QIS, node, strict=True)], strict=True))
        sizes: dict[tuple[str, ...], int] = defaultdict(int)
        for key, n in zip(keys, counts, strict=True):
            sizes[key] += n
        kept = [sizes[key] >= k for key in keys]
        suppressed = sum(n for n, keep in zip(counts, kept, strict=True) if not keep)
        if suppressed > cap:
            continue
        per_combo = map(sum, zip(*[costs[q][level] for q, level in zip(QIS, node, strict=True)], strict=True))
        penalty = sum(n * c for n, c, keep in zip(counts, per_combo, kept, strict=True) if keep)
        loss = (penalty + suppressed * len(QIS)) / (len(records) * len(QIS))
        if loss < best[0] - 1e-12:
            best = (loss, dict(zip(QIS, node, strict=True)))
    return best


# --- the tests --------------------------------------------------------------------------------


def test_measures_on_the_raw_table_agree_with_the_second_implementation(frame: pl.DataFrame, rows: list[dict[str, str]]) -> None:
    assert len(rows) == frame.height == 32593
    assert k_anonymity(frame, QIS) == independent_k(rows, QIS)
    assert l_diversity(frame, QIS, "final_result") == independent_l(rows, QIS, "final_result")
    assert t_closeness(frame, QIS, "final_result") == pytest.approx(independent_t(rows, QIS, "final_result", None), abs=1e-12)
    ordinal = t_closeness(frame, QIS, "final_result", OULAD_FINAL_RESULT_ORDER)
    assert ordinal == pytest.approx(independent_t(rows, QIS, "final_result", list(OULAD_FINAL_RESULT_ORDER)), abs=1e-12)
    # Fewer quasi-identifiers, larger classes: the measures move the way they must.
    assert k_anonymity(frame, ["gender", "age_band"]) == independent_k(rows, ["gender", "age_band"]) > k_anonymity(frame, QIS)


@pytest.mark.parametrize("k", [10, 25, 50, 100])
def test_generalisation_reaches_k_checked_independently(frame: pl.DataFrame, rows: list[dict[str, str]], k: int) -> None:
    result = generalise(frame, oulad_hierarchies(), k, max_suppression=0.05)
    released = result.frame.to_dicts()

    # The released table is k-anonymous, counted in plain dicts.
    assert independent_k(released, QIS) >= k
    assert result.suppressed <= int(0.05 * len(rows))
    assert len(released) == len(rows) - result.suppressed
    # Every released quasi-identifier is the declared generalisation of an original value at
    # the reported level, and nothing else changed: the same rows, in the same order, minus the
    # suppressed ones.
    images = {q: {row[result.levels[q]] for row in OULAD_HIERARCHIES[q]} for q in QIS}
    assert all(r[q] in images[q] for r in released for q in QIS)
    originals = iter(rows)
    for out in released:
        source = next(o for o in originals if o["id_student"] == out["id_student"] and o["code_module"] == out["code_module"]
                      and o["code_presentation"] == out["code_presentation"])
        assert all(out[c] == source[c] for c in out if c not in QIS)
        assert all({row[result.levels[q]] for row in OULAD_HIERARCHIES[q] if row[0] == source[q]} == {out[q]} for q in QIS)

    # The loss reported is the least any lattice node within the cap can reach.
    best_loss, _levels = brute_force(rows, k, int(0.05 * len(rows)))
    assert result.loss == pytest.approx(best_loss, abs=1e-9)
    assert 0 < result.loss < 1
    report = result.report()
    assert report["rows_out"] == len(released) and report["loss_metric"].startswith("NCP")


def test_higher_k_costs_more_information(frame: pl.DataFrame) -> None:
    losses = [generalise(frame, oulad_hierarchies(), k, max_suppression=0.05).loss for k in (5, 50, 500)]
    assert losses == sorted(losses) and losses[0] < losses[-1]


def test_without_suppression_k_is_reached_by_generalising_alone(frame: pl.DataFrame, rows: list[dict[str, str]]) -> None:
    result = generalise(frame, oulad_hierarchies(), 50, max_suppression=0.0)
    assert result.suppressed == 0 and result.frame.height == len(rows)
    assert independent_k(result.frame.to_dicts(), QIS) >= 50


def test_unreachable_or_malformed_requests_are_refused_by_name(frame: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput) as error:
        generalise(frame.head(3), oulad_hierarchies(), 5, max_suppression=0.0)
    assert error.value.errors[0].field == "k"

    strange = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Atlantis")).otherwise(pl.col("region")).alias("region"))
    with pytest.raises(InvalidInput) as error:
        generalise(strange, oulad_hierarchies(), 5)
    assert error.value.errors[0].field == "region" and "Atlantis" in error.value.errors[0].message

    with pytest.raises(InvalidInput) as error:
        k_anonymity(frame, ["gender", "shoe_size"])
    assert error.value.errors[0].field == "shoe_size"

    with pytest.raises(InvalidInput):
        Hierarchy.of("age_band", [["0-35", "*"], ["35-55"]])
    with pytest.raises(InvalidInput) as error:
        generalise(frame, oulad_hierarchies(), 0)
    assert error.value.errors[0].field == "k"
    with pytest.raises(InvalidInput) as error:
        t_closeness(frame, QIS, "final_result", ["Pass", "Fail"])
    assert error.value.errors[0].field == "final_result"


def test_t_closeness_refuses_missing_sensitive_values(frame: pl.DataFrame) -> None:
    holed = frame.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("final_result")).alias("final_result"))
    with pytest.raises(InvalidInput) as error:
        t_closeness(holed, QIS, "final_result")
    assert (error.value.errors[0].field, error.value.errors[0].rule) == ("final_result", "no_missing") and "3 missing" in error.value.detail
