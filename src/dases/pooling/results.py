"""Study results kept by the node that ran them, for the portal to show.

A finished study (a pooled dropout model with its card, or an impact study) is a folder under
`DATA_DIR/studies/<participant>/<study>/`: `result.json` (with its `kind` and `title`), the model
card in Markdown when there is one, and the PNG plots. Everything in it is de-identified
(pseudonyms, k-anonymous tables, aggregates), but it is the participant's own work, so the
portal shows it to the node's operator only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dases.errors import InvalidInput, NotFound

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PLOT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\.png$")
KINDS = ("dropout", "impact")


@dataclass(frozen=True)
class StoredStudy:
    name: str
    kind: str
    title: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    card: str | None = None
    plots: list[str] = field(default_factory=list)


def studies_dir(data_dir: Path, slug: str) -> Path:
    return data_dir / "studies" / slug


def study_dir(data_dir: Path, slug: str, name: str) -> Path:
    if not NAME.match(name):
        raise InvalidInput(f"a study name is lower-case letters, digits, '-' and '_', not {name!r}")
    return studies_dir(data_dir, slug) / name


def save(data_dir: Path, slug: str, name: str, kind: str, title: str, result: dict[str, Any]) -> Path:
    """Write `result.json` (the caller writes its card and plots into the same folder)."""
    if kind not in KINDS:
        raise InvalidInput(f"a study result is one of {', '.join(KINDS)}, not {kind!r}")
    folder = study_dir(data_dir, slug, name)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"kind": kind, "title": title, **result}
    (folder / "result.json").write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return folder


def _interval(value: Any, interval: Any) -> str:
    if isinstance(interval, list | tuple) and len(interval) == 2:
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{value:.3f}"


def _figures(kind: str, result: dict[str, Any]) -> list[tuple[str, str]]:
    """The few figures a reader looks for first, as (label key, value) pairs."""
    if kind == "dropout":
        pairs = [
            ("figure_learners", result.get("learners")),
            ("figure_k", result.get("k_reached")),
            ("figure_train_test", f"{result.get('train_rows')} / {result.get('test_rows')}"),
            ("figure_auc", _interval(result["pooled_auc"], result.get("pooled_auc_ci95")) if "pooled_auc" in result else None),
            ("figure_brier", f"{result['brier']:.3f}" if "brier" in result else None),
        ]
    else:
        pooled = result.get("pooled") or {}
        estimates = pooled.get("estimates") or []
        pairs = [("figure_n", pooled.get("n"))]
        pairs += [(f"figure_{e['estimand'].lower()}", _interval(e["value"], e.get("ci95"))) for e in estimates if e.get("estimand") in ("ATE", "ATT")]
        balance = pooled.get("balance") or {}
        if "max_abs_smd_before" in balance:
            pairs.append(("figure_smd", f"{balance['max_abs_smd_before']:.3f} → {balance['max_abs_smd_after']:.3f}"))
    return [(label, str(value)) for label, value in pairs if value is not None]


def _read(folder: Path) -> StoredStudy:
    try:
        document = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise NotFound(f"no readable result for the study {folder.name}") from error
    kind = document.get("kind")
    if kind not in KINDS:
        raise NotFound(f"the study {folder.name} has no result of a known kind")
    cards = sorted(folder.glob("*.md"))
    return StoredStudy(
        name=folder.name,
        kind=kind,
        title=str(document.get("title") or folder.name),
        figures=_figures(kind, document),
        card=cards[0].read_text(encoding="utf-8") if cards else None,
        plots=sorted(path.name for path in folder.glob("*.png") if PLOT.match(path.name)),
    )


def list_studies(data_dir: Path, slug: str) -> list[StoredStudy]:
    folder = studies_dir(data_dir, slug)
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and NAME.match(child.name) and (child / "result.json").is_file():
            try:
                found.append(_read(child))
            except NotFound:
                continue
    return found


def get_study(data_dir: Path, slug: str, name: str) -> StoredStudy:
    try:
        folder = study_dir(data_dir, slug, name)
    except InvalidInput as error:
        raise NotFound(error.detail) from error
    if not (folder / "result.json").is_file():
        raise NotFound(f"no study {name!r}")
    return _read(folder)


def plot_path(data_dir: Path, slug: str, name: str, plot: str) -> Path:
    """A study's PNG: only names the pattern allows, only inside the study's folder."""
    study = get_study(data_dir, slug, name)
    if not PLOT.match(plot) or plot not in study.plots:
        raise NotFound(f"the study {name!r} has no plot {plot!r}")
    return study_dir(data_dir, slug, name) / plot
