"""Measuring and reaching k-anonymity, l-diversity and t-closeness over declared quasi-identifiers.

The search is full-domain generalisation with record suppression (Samarati and Sweeney's model):
each quasi-identifier is lifted to one level of its hierarchy for every row, and the rows still in
equivalence classes smaller than k are suppressed, up to a cap. Every lattice node (one level per
column) that reaches k within the cap is a candidate; the released one has the least information
loss.

Why it is fast on a million rows: whether a node reaches k, how many rows it suppresses and its
loss depend only on how many rows share each combination of the *original* quasi-identifier
values, because a generalisation maps combinations to combinations. So the frame is grouped once
(a few thousand combinations on OULAD, whatever the row count) and every node is evaluated on
those counts; the chosen node is then applied to the rows in one vectorised pass.

Information loss is NCP (the normalised certainty penalty of Xu et al., 2006): a value
generalised to a node covering `n` of the column's `N` original values costs (n - 1) / (N - 1);
a suppressed row costs 1 in every quasi-identifier; the loss is the mean over all released and
suppressed cells, 0 (nothing changed) to 1 (nothing left).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from dases.errors import FieldError, InvalidInput

SUPPRESSED = "*"


@dataclass(frozen=True)
class Hierarchy:
    """A generalisation hierarchy in ARX's tabular form: one row per original value, then its
    generalisation at level 1, 2, ... Level 0 is the value itself; every row has the same length.

    Declared as data (lists of strings), so a study can ship its own hierarchies with its
    protocol and a reviewer can read them without reading code.
    """

    column: str
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.rows:
            raise InvalidInput(f"the hierarchy of {self.column} has no values", errors=[FieldError(self.column, "non_empty", "declare at least one value")])
        width = len(self.rows[0])
        if any(len(row) != width for row in self.rows):
            raise InvalidInput(
                f"the hierarchy of {self.column} has rows of different lengths",
                errors=[FieldError(self.column, "rectangular", "every value needs a generalisation at every level")],
            )
        originals = [row[0] for row in self.rows]
        if len(set(originals)) != len(originals):
            raise InvalidInput(f"the hierarchy of {self.column} lists a value twice", errors=[FieldError(self.column, "unique", "one row per original value")])

    @classmethod
    def of(cls, column: str, rows: Sequence[Sequence[str]]) -> Hierarchy:
        return cls(column, tuple(tuple(str(cell) for cell in row) for row in rows))

    @property
    def height(self) -> int:
        """The highest level (0 when the column cannot be generalised)."""
        return len(self.rows[0]) - 1

    @property
    def values(self) -> list[str]:
        return [row[0] for row in self.rows]

    def mapping(self, level: int) -> dict[str, str]:
        return {row[0]: row[level] for row in self.rows}

    @cached_property
    def _leaves(self) -> list[dict[str, int]]:
        counts: list[dict[str, int]] = []
        for level in range(self.height + 1):
            per_label: dict[str, int] = {}
            for row in self.rows:
                per_label[row[level]] = per_label.get(row[level], 0) + 1
            counts.append(per_label)
        return counts

    def ncp(self, level: int) -> dict[str, float]:
        """Each original value's penalty once lifted to `level`."""
        domain = len(self.rows)
        if domain == 1:
            return {self.rows[0][0]: 0.0}
        leaves = self._leaves[level]
        return {row[0]: (leaves[row[level]] - 1) / (domain - 1) for row in self.rows}


def hierarchies_from_data(declared: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, Hierarchy]:
    return {column: Hierarchy.of(column, rows) for column, rows in declared.items()}


def _require_columns(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the data has no column {', '.join(missing)}",
            errors=[FieldError(column, "present", "a declared quasi-identifier or sensitive attribute must be a column") for column in missing],
        )
    if not columns:
        raise InvalidInput("declare at least one quasi-identifier", errors=[FieldError("quasi_identifiers", "non_empty", "at least one column")])


def class_sizes(frame: pl.DataFrame, quasi_identifiers: Sequence[str]) -> pl.DataFrame:
    """One row per equivalence class: its quasi-identifier values and `size`."""
    _require_columns(frame, quasi_identifiers)
    return frame.group_by(list(quasi_identifiers)).agg(pl.len().alias("size"))


def k_anonymity(frame: pl.DataFrame, quasi_identifiers: Sequence[str]) -> int:
    """The size of the smallest equivalence class (0 for no rows): every row shares its
    quasi-identifiers with at least k - 1 others."""
    if frame.height == 0:
        _require_columns(frame, quasi_identifiers)
        return 0
    return int(class_sizes(frame, quasi_identifiers)["size"].min())  # type: ignore[arg-type]


def l_diversity(frame: pl.DataFrame, quasi_identifiers: Sequence[str], sensitive: str) -> int:
    """Distinct l-diversity: the fewest distinct sensitive values in any class (0 for no rows).
    An attacker who places someone in a class still faces at least l possible values."""
    _require_columns(frame, [*quasi_identifiers, sensitive])
    if frame.height == 0:
        return 0
    per_class = frame.group_by(list(quasi_identifiers)).agg(pl.col(sensitive).n_unique().alias("l"))
    return int(per_class["l"].min())  # type: ignore[arg-type]


def t_closeness(frame: pl.DataFrame, quasi_identifiers: Sequence[str], sensitive: str, order: Sequence[str] | None = None) -> float:
    """The largest distance between a class's distribution of the sensitive attribute and the
    whole table's (Li, Li and Venkatasubramanian, 2007).

    With `order` (an ordinal attribute, e.g. Fail < Pass < Distinction) the distance is the
    Earth Mover's Distance with ground distance |i - j| / (m - 1): the normalised sum of the
    absolute cumulative differences. Without it every pair of values is equally far apart and
    the EMD is the total variation distance, half the sum of absolute differences.
    """
    _require_columns(frame, [*quasi_identifiers, sensitive])
    if frame.height == 0:
        return 0.0
    qis = list(quasi_identifiers)
    if frame[sensitive].null_count():
        raise InvalidInput(
            f"{sensitive} has {frame[sensitive].null_count()} missing values",
            errors=[FieldError(sensitive, "no_missing", "t-closeness compares distributions of known values: fill or drop missing ones")],
        )
    values = list(order) if order is not None else sorted(str(v) for v in frame[sensitive].unique().to_list())
    unknown = set(frame[sensitive].cast(pl.String).unique().to_list()) - set(values)
    if unknown:
        raise InvalidInput(
            f"{sensitive} has values outside the declared order: {sorted(map(str, unknown))[:5]}",
            errors=[FieldError(sensitive, "order", "declare every value of an ordinal attribute, in order")],
        )
    position = {value: index for index, value in enumerate(values)}
    data = frame.select([*qis, pl.col(sensitive).cast(pl.String).replace_strict(position, return_dtype=pl.Int32).alias("_s")])
    total = data.height
    overall = data.group_by("_s").agg(pl.len().alias("n")).with_columns((pl.col("n") / total).alias("q"))
    q = [0.0] * len(values)
    for index, share in overall.select("_s", "q").iter_rows():
        q[index] = share
    classes = data.group_by(qis).agg(pl.len().alias("size"))
    counts = data.group_by([*qis, "_s"]).agg(pl.len().alias("n"))
    # One column per sensitive value: the class's share of it minus the table's.
    wide = classes.select([*qis, "size"])
    for index in range(len(values)):
        wide = wide.join(
            counts.filter(pl.col("_s") == index).select([*qis, pl.col("n").alias(f"_n{index}")]), on=qis, how="left", nulls_equal=True
        )
    differences = [(pl.col(f"_n{index}").fill_null(0) / pl.col("size") - q[index]) for index in range(len(values))]
    if order is not None and len(values) > 1:
        cumulative = [pl.sum_horizontal(differences[: index + 1]).abs() for index in range(len(values) - 1)]
        distance = pl.sum_horizontal(cumulative) / (len(values) - 1)
    else:
        distance = pl.sum_horizontal([difference.abs() for difference in differences]) / 2
    return float(wide.select(distance.max()).item())


@dataclass(frozen=True)
class Candidate:
    """One lattice node's outcome: the level per quasi-identifier, rows suppressed, NCP loss."""

    levels: dict[str, int]
    suppressed: int
    loss: float
    classes: int


@dataclass(frozen=True)
class Generalisation:
    """What was released and at what cost."""

    frame: pl.DataFrame
    k: int
    levels: dict[str, int]
    suppressed: int
    rows_in: int
    loss: float
    generalisation_loss: float  # NCP of the released cells only, suppression left out
    lattice_nodes: int
    nodes_evaluated: int  # the rest were ruled out by their lower bound
    nodes_reaching_k: int  # among those evaluated

    @property
    def suppression_rate(self) -> float:
        return self.suppressed / self.rows_in if self.rows_in else 0.0

    def report(self) -> dict[str, object]:
        return {
            "k": self.k,
            "levels": self.levels,
            "rows_in": self.rows_in,
            "rows_out": self.frame.height,
            "suppressed": self.suppressed,
            "loss_metric": "NCP (Xu et al. 2006); suppressed rows cost 1 per quasi-identifier",
            "loss": round(self.loss, 6),
            "generalisation_loss": round(self.generalisation_loss, 6),
            "lattice_nodes": self.lattice_nodes,
            "nodes_evaluated": self.nodes_evaluated,
            "nodes_reaching_k": self.nodes_reaching_k,
        }


def _check_values(frame: pl.DataFrame, hierarchies: Mapping[str, Hierarchy]) -> None:
    errors = []
    for column, hierarchy in hierarchies.items():
        present = frame[column].cast(pl.String).unique().to_list()
        missing = sorted(str(value) for value in present if value not in set(hierarchy.values))
        if missing:
            errors.append(FieldError(column, "in_hierarchy", f"values without a generalisation: {missing[:5]}"))
    if errors:
        raise InvalidInput(f"{len(errors)} quasi-identifier(s) have values their hierarchy does not declare", errors=errors)


def _combinations(frame: pl.DataFrame, hierarchies: Mapping[str, Hierarchy]) -> pl.DataFrame:
    """The distinct original combinations with their row counts, plus, for every column and
    level, the generalised label's integer id and the NCP of that cell."""
    qis = list(hierarchies)
    base = frame.select([pl.col(column).cast(pl.String) for column in qis]).group_by(qis).agg(pl.len().alias("_count"))
    _check_values(base, hierarchies)
    extra = []
    for column, hierarchy in hierarchies.items():
        for level in range(hierarchy.height + 1):
            labels = hierarchy.mapping(level)
            ids = {label: index for index, label in enumerate(dict.fromkeys(labels.values()))}
            extra.append(pl.col(column).replace_strict({v: ids[g] for v, g in labels.items()}, return_dtype=pl.Int32).alias(f"{column}@{level}"))
            extra.append(pl.col(column).replace_strict(hierarchy.ncp(level), return_dtype=pl.Float64).alias(f"{column}@{level}#ncp"))
    return base.with_columns(extra)


def evaluate(combinations: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], levels: Mapping[str, int], k: int) -> Candidate:
    """One lattice node on the combination counts."""
    keys = [f"{column}@{levels[column]}" for column in hierarchies]
    ncp = pl.sum_horizontal([pl.col(f"{column}@{levels[column]}#ncp") for column in hierarchies])
    width = len(hierarchies)
    total = int(combinations["_count"].sum())
    row = (
        combinations.with_columns(pl.col("_count").sum().over(keys).alias("_size"))
        .select(
            pl.col("_count").filter(pl.col("_size") < k).sum().alias("suppressed"),
            (pl.col("_count") * ncp).filter(pl.col("_size") >= k).sum().alias("kept_ncp"),
            pl.struct(keys).filter(pl.col("_size") >= k).n_unique().alias("classes"),
        )
        .row(0)
    )
    suppressed, kept_ncp, classes = int(row[0] or 0), float(row[1] or 0.0), int(row[2] or 0)
    loss = (kept_ncp + suppressed * width) / (total * width) if total else 0.0
    return Candidate(levels=dict(levels), suppressed=suppressed, loss=loss, classes=classes)


def lattice(hierarchies: Mapping[str, Hierarchy]) -> list[dict[str, int]]:
    columns = list(hierarchies)
    ranges = [range(hierarchies[column].height + 1) for column in columns]
    return [dict(zip(columns, node, strict=True)) for node in itertools.product(*ranges)]


def apply(frame: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], levels: Mapping[str, int], k: int) -> pl.DataFrame:
    """The frame with each quasi-identifier lifted to its level and the rows of classes smaller
    than k removed, rows in their original order."""
    return _release(frame, _combinations(frame, hierarchies), hierarchies, levels, k)


def _release(frame: pl.DataFrame, combinations: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], levels: Mapping[str, int], k: int) -> pl.DataFrame:
    """Lift the (few) distinct combinations, keep those in classes of k or more, and join the
    rows to them: one join over the rows instead of a lookup per column and a window."""
    qis = list(hierarchies)
    lifted_names = {column: f"_lifted_{column}" for column in qis}
    kept = (
        combinations.select([*qis, "_count"])
        .with_columns([pl.col(c).replace_strict(hierarchies[c].mapping(levels[c]), return_dtype=pl.String).alias(lifted_names[c]) for c in qis])
        .filter(pl.col("_count").sum().over(list(lifted_names.values())) >= k)
        .drop("_count")
    )
    strings = frame.with_columns([pl.col(column).cast(pl.String) for column in qis])
    joined = strings.join(kept, on=qis, how="inner", maintain_order="left", nulls_equal=True)
    return joined.drop(qis).rename({lifted: column for column, lifted in lifted_names.items()}).select(frame.columns)


def _lower_bounds(combinations: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], nodes: list[dict[str, int]]) -> list[float]:
    """For each node, the NCP its generalisation would cost if no row were suppressed: a lower
    bound of its loss, since a suppressed row costs the most any row can (1 per column). It is a
    sum of one precomputed term per column, so it costs nothing to compute for every node."""
    total = int(combinations["_count"].sum())
    width = len(hierarchies)
    terms = combinations.select(
        [(pl.col("_count") * pl.col(f"{column}@{level}#ncp")).sum().alias(f"{column}@{level}")
         for column, hierarchy in hierarchies.items() for level in range(hierarchy.height + 1)]
    ).row(0, named=True)
    return [sum(terms[f"{column}@{level}"] for column, level in node.items()) / (total * width) for node in nodes]


def generalise(
    frame: pl.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    k: int,
    *,
    max_suppression: float = 0.02,
) -> Generalisation:
    """The least-loss full-domain generalisation that reaches k with at most `max_suppression`
    of the rows suppressed; InvalidInput when no level of the hierarchies can.

    Branch and bound: nodes are visited by increasing lower bound of their loss (their NCP with
    nothing suppressed), and the walk stops at the first node whose bound exceeds the best loss
    found, which no node after it can beat. Ties in loss go to the node suppressing fewer rows,
    then to the lower node: keeping rows matters more to a study than a finer code in one column.
    """
    if k < 1:
        raise InvalidInput(f"k must be at least 1, not {k}", errors=[FieldError("k", "minimum", "k >= 1")])
    if not 0 <= max_suppression <= 1:
        raise InvalidInput("max_suppression is a share of the rows", errors=[FieldError("max_suppression", "range", "between 0 and 1")])
    qis = list(hierarchies)
    _require_columns(frame, qis)
    rows = frame.height
    cap = int(max_suppression * rows)
    combinations = _combinations(frame, hierarchies)
    nodes = lattice(hierarchies)
    bounds = _lower_bounds(combinations, hierarchies, nodes) if rows else [0.0] * len(nodes)
    best: Candidate | None = None
    evaluated = reaching = 0
    for bound, node in sorted(zip(bounds, nodes, strict=True), key=lambda pair: (pair[0], sum(pair[1].values()))):
        if best is not None and bound > best.loss + 1e-12:
            break
        candidate = evaluate(combinations, hierarchies, node, k)
        evaluated += 1
        if candidate.suppressed > cap or rows - candidate.suppressed <= 0:
            continue
        reaching += 1
        if best is None or (round(candidate.loss, 12), candidate.suppressed, sum(node.values())) < (
            round(best.loss, 12), best.suppressed, sum(best.levels.values())
        ):
            best = candidate
    if best is None:
        raise InvalidInput(
            f"no generalisation reaches k={k} with at most {max_suppression:.1%} of the {rows} rows suppressed",
            errors=[FieldError("k", "reachable", "lower k, allow more suppression, or declare higher hierarchy levels")],
        )
    released = _release(frame, combinations, hierarchies, best.levels, k)
    width = len(qis)
    generalisation_loss = (best.loss * rows * width - best.suppressed * width) / (released.height * width) if released.height else 0.0
    return Generalisation(
        frame=released,
        k=k,
        levels=best.levels,
        suppressed=rows - released.height,
        rows_in=rows,
        loss=best.loss,
        generalisation_loss=max(generalisation_loss, 0.0),
        lattice_nodes=len(nodes),
        nodes_evaluated=evaluated,
        nodes_reaching_k=reaching,
    )
