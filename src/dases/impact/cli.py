"""`dases impact study`: the effect of using a learning solution early, on pooled OULAD extracts."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dases.errors import DasesError
from dases.impact import study

impact_app = typer.Typer(help="Impact studies of learning solutions across providers.", no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_OULAD = Path("../shared/data/oulad")


@impact_app.callback()
def impact_callback() -> None:
    """Impact studies: users of a learning solution against comparable non-users."""


def keyed_pseudonymiser(key: bytes):
    """HMAC-SHA256 of the learner id under `key`, hex, 32 characters: stable for one key, and
    not reversible or linkable to the raw id without it."""

    def pseudonymise(learner: str) -> str:
        return hmac.new(key, learner.encode(), hashlib.sha256).hexdigest()[:32]

    return pseudonymise


@impact_app.command("study")
def study_command(
    treatment: Annotated[str, typer.Option(help="The learning solution: a VLE activity type (forumng, quiz, oucollaborate...; needs studentVle.csv) or an assessment type (cma: online computer-marked quizzes, tma).")],
    cutoff: Annotated[int, typer.Option(help="Cut-off day: use is measured up to it, outcomes after it.")],
    outcome: Annotated[str, typer.Option(help="withdrawal, pass (Pass or Distinction) or score (mean score after the cut-off).")],
    method: Annotated[str, typer.Option(help="ipw (ATE and ATT) or matching (ATT, 1:1 nearest neighbour with a caliper).")] = "ipw",
    out: Annotated[Path, typer.Option(help="Directory for result.json and balance.png.")] = Path("impact-study"),
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", help="Add discrete Laplace noise to the released counts and means, spending this epsilon.")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="DASES_OULAD_DIR", help="The OULAD CSV directory.")] = DEFAULT_OULAD,
    modules: Annotated[str | None, typer.Option(help="Only these modules, comma-separated (e.g. CCC,DDD).")] = None,
    replicates: Annotated[int, typer.Option(min=100, max=10_000, help="Bootstrap replicates.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 20261121,
    pseudonym_key: Annotated[str | None, typer.Option("--pseudonym-key", envvar="DASES_PSEUDONYM_KEY", help="Key of the keyed pseudonyms; a fresh random one per run when absent.")] = None,
) -> None:
    """Users of TREATMENT by day CUTOFF against comparable non-users, on OUTCOME after it."""
    # scikit-learn and matplotlib load here, not when `dases` starts: every other command would
    # pay for them.
    from dases.impact import plot, service

    try:
        design = study.Design(treatment=treatment, cutoff=cutoff, outcome=outcome)
        chosen = [m.strip().upper() for m in modules.split(",")] if modules else None
        providers = {
            name: [m for m in group if chosen is None or m in chosen]
            for name, group in study.DEFAULT_PROVIDERS.items()
        }
        providers = {name: group for name, group in providers.items() if group}
        tables = study.load_oulad(data_dir, chosen)
        key = pseudonym_key.encode() if pseudonym_key else secrets.token_bytes(32)
        built = study.study_table(tables, design, keyed_pseudonymiser(key), providers)
        pooled, release = service.impact_study(
            built.rows,
            outcome,
            categorical=study.CATEGORICAL_COVARIATES,
            numeric=study.NUMERIC_COVARIATES,
            method=method,
            replicates=replicates,
            seed=seed,
            dp_epsilon=dp_epsilon,
        )
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        for field_error in error.errors:
            console.print(f"  {field_error.field}: {field_error.message}")
        raise typer.Exit(2) from None

    out.mkdir(parents=True, exist_ok=True)
    png = plot.write_plot(
        pooled, out / "balance.png", f"{treatment} by day {cutoff} -> {outcome} ({method}, pooled)"
    )
    result = {
        "design": {
            "treatment": treatment,
            "cutoff": cutoff,
            "outcome": outcome,
            "method": method,
            "treatment_window": f"at least one use on or before day {cutoff}",
            "outcome_window": f"after day {cutoff}",
            "population": f"learners still registered on day {cutoff}, in module-presentations "
            f"where between {study.MIN_UPTAKE:.0%} and {1 - study.MIN_UPTAKE:.0%} used it by then",
            "covariates": list(study.COVARIATES),
            "replicates": replicates,
            "seed": seed,
            "caveat": "observational: adjusted for the pre-treatment covariates listed, not for "
            "anything unmeasured (motivation, prior study habits)",
        },
        "provider_modules": providers,
        "excluded_presentations": built.excluded,
        **release,
        "plot": png.name,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _print_summary(release, outcome)
    console.print(f"wrote {out / 'result.json'} and {png}")


def _print_summary(release: dict, outcome: str) -> None:
    table = Table(title=f"effect on {outcome} (users minus non-users)")
    for column in ("rows", "estimand", "method", "estimate", "95% CI", "max |SMD| before -> after"):
        table.add_column(column)
    for name, released in [("pooled", release["pooled"]), *release["providers"].items()]:
        if "error" in released:
            table.add_row(name, "-", "-", released["error"], "", "")
            continue
        balance = released["balance"]
        smd = f"{balance['max_abs_smd_before']:.3f} -> {balance['max_abs_smd_after']:.3f}"
        naive = released["naive"]
        table.add_row(name, naive["estimand"], naive["method"], f"{naive['value']:+.4f}", _ci(naive), "")
        for estimate in released["estimates"]:
            table.add_row(name, estimate["estimand"], estimate["method"], f"{estimate['value']:+.4f}", _ci(estimate), smd)
    console.print(table)


def _ci(estimate: dict) -> str:
    if "ci95" not in estimate:
        return "(noisy, no CI)"
    low, high = estimate["ci95"]
    return f"[{low:+.4f}, {high:+.4f}]"
