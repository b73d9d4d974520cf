"""Local recoding to k over the declared hierarchies: top-down specialisation.

Full-domain generalisation (`anonymity.generalise`) lifts a column for every row alike: one rare
profile in Wales can cost every Londoner their region. Local recoding lets different groups of
rows keep different precision, as Mondrian does, but stays within the hierarchies, so every
released value is a label an analyst can read ("England South", never "London Region,Wales").

The walk starts with every quasi-identifier at its top level (everything withheld) and
repeatedly specialises one column of one partition by one level: the partition's rows split by
their labels one level down. Children with at least k rows become partitions of their own; the
rows of smaller children stay together at the parent's label, which is allowed only if they
number at least k too (or none). Of the splits allowed, the one that lowers NCP the most is
taken; a partition that no split can refine is final. Every partition, hence every released
equivalence class, has at least k rows, and no row is suppressed.

Like the lattice search, it works on the counts of distinct original combinations (a few
thousand), then joins the rows to their partition's labels once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dases.errors import FieldError, InvalidInput
from dases.privacy.anonymity import Hierarchy, _check_values, _require_columns


@dataclass(frozen=True)
class LocalGeneralisation:
    frame: pl.DataFrame
    k: int
    partitions: int
    rows_in: int
    loss: float

    def report(self) -> dict[str, object]:
        return {
            "k": self.k,
            "method": "local recoding (top-down specialisation over the hierarchies)",
            "rows_in": self.rows_in,
            "rows_out": self.frame.height,
            "suppressed": 0,
            "partitions": self.partitions,
            "loss_metric": "NCP (Xu et al. 2006)",
            "loss": round(self.loss, 6),
        }


@dataclass
class _Partition:
    levels: list[int]
    members: list[int]  # indices into the distinct combinations
    count: int


def specialise(frame: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], k: int) -> LocalGeneralisation:
    """The table recoded locally to k with no row suppressed; InvalidInput when even the top
    levels leave a class smaller than k."""
    if k < 1:
        raise InvalidInput(f"k must be at least 1, not {k}", errors=[FieldError("k", "minimum", "k >= 1")])
    qis = list(hierarchies)
    _require_columns(frame, qis)
    base = frame.select([pl.col(c).cast(pl.String) for c in qis]).group_by(qis).agg(pl.len().alias("_count"))
    _check_values(base, hierarchies)
    combos = base.select(qis).rows()
    counts = base["_count"].to_list()
    columns = [hierarchies[c] for c in qis]
    labels = [[h.mapping(level) for level in range(h.height + 1)] for h in columns]
    ncp = [[h.ncp(level) for level in range(h.height + 1)] for h in columns]

    def penalty(partition: _Partition, column: int, level: int) -> float:
        table = ncp[column][level]
        return sum(counts[m] * table[combos[m][column]] for m in partition.members)

    def label_key(levels: list[int], member: int) -> tuple[str, ...]:
        return tuple(labels[c][levels[c]][combos[member][c]] for c in range(len(qis)))

    # The top levels may still hold several labels (a hierarchy need not end in one '*').
    top = [h.height for h in columns]
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for member in range(len(combos)):
        groups[label_key(top, member)].append(member)
    pending = [_Partition(list(top), members, sum(counts[m] for m in members)) for members in groups.values()]
    if not pending or min(p.count for p in pending) < k:
        raise InvalidInput(
            f"no recoding reaches k={k}: even the top levels of the hierarchies leave a class smaller than k",
            errors=[FieldError("k", "reachable", "lower k, or declare coarser top levels")],
        )

    final: list[_Partition] = []
    while pending:
        partition = pending.pop()
        best: tuple[float, list[_Partition]] | None = None
        for column, level in enumerate(partition.levels):
            if level == 0:
                continue
            children: dict[str, list[int]] = defaultdict(list)
            for member in partition.members:
                children[labels[column][level - 1][combos[member][column]]].append(member)
            sized = sorted(((sum(counts[m] for m in ms), ms) for ms in children.values()), key=lambda pair: pair[0])
            kept = [pair for pair in sized if pair[0] >= k]
            rest = [pair for pair in sized if pair[0] < k]
            # Too few rows left behind at the parent's label: give it the smallest kept children.
            while rest and sum(n for n, _ in rest) < k and kept:
                rest.append(kept.pop(0))
            if not kept or (rest and sum(n for n, _ in rest) < k):
                continue
            lowered = list(partition.levels)
            lowered[column] = level - 1
            split = [_Partition(lowered, ms, n) for n, ms in kept]
            gain = sum(penalty(child, column, level) - penalty(child, column, level - 1) for child in split)
            if rest:
                split.append(_Partition(list(partition.levels), [m for _, ms in rest for m in ms], sum(n for n, _ in rest)))
            if gain > 0 and (best is None or gain > best[0]):
                best = (gain, split)
        if best is None:
            final.append(partition)
        else:
            pending.extend(best[1])

    width = len(qis)
    total = sum(counts)
    loss = sum(penalty(p, c, p.levels[c]) for p in final for c in range(width)) / (total * width)
    released_labels: dict[str, list[str]] = {f"_lifted_{c}": [] for c in qis}
    originals: dict[str, list[str]] = {c: [] for c in qis}
    for partition in final:
        for member in partition.members:
            for index, column in enumerate(qis):
                originals[column].append(combos[member][index])
                released_labels[f"_lifted_{column}"].append(labels[index][partition.levels[index]][combos[member][index]])
    mapping = pl.DataFrame({**originals, **released_labels}, schema={name: pl.String for name in [*originals, *released_labels]})
    strings = frame.with_columns([pl.col(c).cast(pl.String) for c in qis])
    released = (
        strings.join(mapping, on=qis, how="inner", maintain_order="left", nulls_equal=True)
        .drop(qis)
        .rename({f"_lifted_{c}": c for c in qis})
        .select(frame.columns)
    )
    return LocalGeneralisation(frame=released, k=k, partitions=len(final), rows_in=frame.height, loss=loss)
