"""The model card of a dropout study: Markdown, three small PNG plots and the figures as JSON.

A model card says what a model may be used for and how far to trust it: the data it saw, whose
consent covered that data, how de-identified it was, how well it ranks and how well its
probabilities are calibrated (with intervals), whether it does as well for every group of
learners, and what it cannot know.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.pyplot as plt

from dases.pooling.features import CATEGORICAL_FEATURES
from dases.pooling.service import DropoutStudy, summary

CARD = "model_card.md"
ROC_PNG = "roc.png"
CALIBRATION_PNG = "calibration.png"
IMPORTANCE_PNG = "feature_importance.png"
FIGURES_JSON = "metrics.json"
_DPI = 80
NO_CONSENT_DATA = "all rows, no consent filter"
NOT_MEASURED = "not measured"


def _roc_plot(study: DropoutStudy, path: Path) -> None:
    fpr, tpr = study.evaluation.roc
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.plot(fpr, tpr, color="#1f5f99", label=f"pooled, AUC {study.evaluation.auc}")
    axes.plot([0, 1], [0, 1], color="#999999", linestyle=":", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, day {study.day}, 2014 test")
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def _calibration_plot(study: DropoutStudy, path: Path) -> None:
    predicted = [row[0] for row in study.evaluation.calibration]
    observed = [row[1] for row in study.evaluation.calibration]
    top = max(max(predicted), max(observed)) * 1.05
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.plot([0, top], [0, top], color="#999999", linestyle=":", label="perfect calibration")
    axes.plot(predicted, observed, marker="o", color="#1f5f99", label="pooled model (deciles)")
    axes.set(xlabel="mean predicted withdrawal", ylabel="observed withdrawal", title="Calibration, 2014 test")
    axes.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def _importance_plot(study: DropoutStudy, path: Path, top: int = 12) -> None:
    rows = study.importance[:top][::-1]
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.barh([name for name, _, _ in rows], [mean for _, mean, _ in rows], xerr=[std for _, _, std in rows], color="#1f5f99")
    axes.set(xlabel="drop in test ROC AUC when shuffled", title="Permutation importance")
    axes.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def _signed(interval) -> str:
    return f"{interval.value:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def render_card(study: DropoutStudy) -> str:
    """The model card's Markdown (it refers to the PNGs by their file names)."""
    evaluation = study.evaluation
    consent = NO_CONSENT_DATA if study.consent_coverage is None else (
        f"{_percent(study.consent_coverage)} of learners have a consent covering this purpose"
    )
    k = NOT_MEASURED if study.k_reached is None else f"k = {study.k_reached}"
    lines = [
        f"# Model card: early dropout at day {study.day} (OULAD)",
        "",
        ("Predicts, for a learner still registered on day "
        f"{study.day} of a module presentation, the probability that they withdraw later in that "
        "presentation. Meant to direct support to learners early, never to decide about a learner "
        "without a person."),
        "",
        "## Data used",
        "",
        f"- Source: the Open University Learning Analytics Dataset, read in place from `{study.source}`.",
        ("- Tables: studentInfo, studentRegistration, assessments, studentAssessment, courses "
        "(no VLE click stream: studentVle is absent from this copy)."),
        (f"- Population: registrations active on day {study.day} (registered by then, not unregistered by "
        "then). Label: `final_result` is Withdrawn, i.e. a withdrawal after that day."),
        (f"- Train: the 2013 presentations, {study.train_rows} rows, {study.train_positives} withdrawals "
        f"({_percent(study.train_positives / study.train_rows)}). Test: the 2014 presentations, "
        f"{evaluation.rows} rows, {evaluation.positives} withdrawals ({_percent(evaluation.positives / evaluation.rows)})."),
        "- Learners are identified by pseudonyms only; raw ids never reach the pooled tables.",
        "- Features: "
        + ", ".join(f"`{name}`" + (" (categorical)" if name in CATEGORICAL_FEATURES else "") for name in study.model.features)
        + ".",
        "",
        "| provider | modules | registrations | submissions |",
        "|---|---|---:|---:|",
        *[
            f"| {share.provider} | {', '.join(share.modules) or 'all'} | {share.registrations} | {share.submissions} |"
            for share in study.shares
        ],
        "",
        "## Consent coverage",
        "",
        f"{consent}.",
        "",
        "## k reached",
        "",
        f"{k}.",
        "",
        "## Metrics",
        "",
        f"Intervals: 95% percentile bootstrap over test rows, {study.resamples} resamples, seed {study.seed}.",
        "",
        f"- ROC AUC (pooled model, 2014 test): **{evaluation.auc}**",
        (f"- Brier score: {evaluation.brier:.4f} (always predicting the test rate would score "
        f"{(evaluation.positives / evaluation.rows) * (1 - evaluation.positives / evaluation.rows):.4f})"),
        "",
        f"![ROC]({ROC_PNG})",
        "",
        "### Pooled vs provider-local models",
        "",
        ("Each provider's 2014 rows, scored by a model trained on that provider's 2013 rows only and "
        "by the pooled model."),
        "",
        "| provider | modules | train rows | test rows | local AUC | pooled AUC | gain (paired) | pooling wins |",
        "|---|---|---:|---:|---|---|---|---|",
        *[
            f"| {row.provider} | {', '.join(row.modules)} | {row.train_rows} | {row.test_rows} | "
            f"{row.local if row.local is not None else 'none: ' + row.note} | {row.pooled} | "
            f"{_signed(row.gain) if row.gain is not None else 'n/a'} | "
            f"{('yes' if row.clear_win else 'yes, within noise') if row.pooling_wins else 'no'} |"
            for row in study.comparisons
        ],
        "",
        (f"Pooling wins for {study.providers_won} of {len(study.comparisons)} providers; for "
        f"{sum(1 for row in study.comparisons if row.clear_win)} of them the paired 95% interval of "
        "the gain excludes zero (or no local model is possible)."),
        "",
        "## Calibration",
        "",
        "| decile | mean predicted | observed | rows |",
        "|---:|---:|---:|---:|",
        *[
            f"| {index} | {predicted:.3f} | {observed:.3f} | {rows} |"
            for index, (predicted, observed, rows) in enumerate(evaluation.calibration, start=1)
        ],
        "",
        f"![calibration]({CALIBRATION_PNG})",
        "",
        "## Fairness",
        "",
        (f"Flagged: score at or above {evaluation.threshold:.3f}, the threshold that flags as many "
        "training learners as withdrew in training. Groups with one class only have no AUC."),
        "",
        "| attribute | group | rows | withdrawal rate | flagged rate | AUC |",
        "|---|---|---:|---:|---:|---|",
        *[
            f"| {row.attribute} | {row.group} | {row.rows} | {_percent(row.withdrawal_rate)} | "
            f"{_percent(row.flagged_rate)} | {row.auc if row.auc is not None else 'n/a'} |"
            for row in evaluation.fairness
        ],
        "",
        "## What the model relies on",
        "",
        f"![feature importance]({IMPORTANCE_PNG})",
        "",
        "## Limitations",
        "",
        ("- No VLE activity: the click stream (studentVle) is not in this copy of OULAD, and it is "
        "the strongest early signal in published work; the model sees demographics, registration "
        "timing and assessment submissions only."),
        ("- A submission's score is taken as known on its submission day; OULAD has no marking date, "
        "so a score marked after day N would in practice arrive later."),
        ("- Presentations with no assessment due by day N (and learners who submitted nothing) give "
        "the model little beyond demographics and registration timing."),
        ("- One year of training data, one year of test: a module's withdrawal rate can move between "
        "years (GGG: 4% in 2013J, 8-13% in 2014), and a module with no 2013 presentation (CCC) is "
        "scored from what other modules taught the model."),
        ("- Demographic features (gender, age band, disability, IMD band, region) are used as "
        "predictors; the fairness table shows how flags fall on each group, and a deployment should "
        "decide whether to keep them."),
        "- Withdrawal is the only outcome; failing the module is counted as not withdrawing.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(study: DropoutStudy, directory: Path) -> Path:
    """Write the card, its three plots and `metrics.json` under `directory`; return the card's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _roc_plot(study, directory / ROC_PNG)
    _calibration_plot(study, directory / CALIBRATION_PNG)
    _importance_plot(study, directory / IMPORTANCE_PNG)
    (directory / FIGURES_JSON).write_text(json.dumps(summary(study), indent=2) + "\n", encoding="utf-8")
    card = directory / CARD
    card.write_text(render_card(study), encoding="utf-8")
    return card
