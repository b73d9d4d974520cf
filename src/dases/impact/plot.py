"""The study's picture: a love plot of the balance and the overlap of the propensities.

Drawn on a bare `Figure` with the Agg canvas, never through `pyplot`: pyplot keeps a global
registry of figures and picks a backend for the whole process, and a node serving requests
should do neither.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dases.impact.service import BALANCE_THRESHOLD, StudyResult

#: The love plot shows at most this many covariate columns: the most imbalanced before adjustment.
MAX_ROWS = 30


def study_figure(result: StudyResult, title: str) -> Figure:
    """Two panels: SMD per covariate before and after, and the propensity histograms per group."""
    balance = result.balance
    before = np.abs(np.asarray(balance.before))
    after = np.abs(np.asarray(balance.after))
    order = np.argsort(before)[-MAX_ROWS:]
    rows = len(order)

    figure = Figure(figsize=(11, max(4.0, 0.22 * rows + 1.5)), dpi=80)
    FigureCanvasAgg(figure)
    love, overlap = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    positions = np.arange(rows)
    love.scatter(before[order], positions, marker="o", facecolors="none", edgecolors="tab:red", label="before")
    love.scatter(after[order], positions, marker="o", color="tab:blue", label=f"after ({result.method})")
    love.axvline(BALANCE_THRESHOLD, color="grey", linestyle="--", linewidth=1)
    love.set_yticks(positions, [balance.covariates[i] for i in order], fontsize=7)
    love.set_xlabel("|standardised mean difference|")
    love.set_title(f"Balance (max {balance.max_before:.2f} -> {balance.max_after:.2f})", fontsize=10)
    love.legend(loc="lower right", fontsize=8)

    bins = np.linspace(0, 1, 41)
    t = result.treated == 1
    overlap.hist(result.propensity[t], bins=bins, alpha=0.6, color="tab:blue", label=f"users (n={t.sum()})")
    overlap.hist(result.propensity[~t], bins=bins, alpha=0.6, color="tab:orange", label=f"non-users (n={(~t).sum()})")
    overlap.set_xlabel("propensity score")
    overlap.set_ylabel("learners")
    overlap.set_title("Overlap", fontsize=10)
    overlap.legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def write_plot(result: StudyResult, path: Path, title: str) -> Path:
    """Save the study figure as a PNG at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    study_figure(result, title).savefig(path, format="png")
    return path
