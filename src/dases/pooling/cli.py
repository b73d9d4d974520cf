"""`dases study dropout`: the OULAD early-dropout study, its model card and figures."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dases.errors import DasesError, InvalidInput

if TYPE_CHECKING:  # the study's modules load Ibis, DuckDB and scikit-learn: only when it runs
    from dases.pooling.features import Pseudonymise

#: Where the project keeps the real data, relative to the repository root.
DEFAULT_OULAD = Path("../shared/data/oulad")

app = typer.Typer(help="Studies on pooled data: train, compare, write model cards.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def study() -> None:
    """Studies on pooled data (a group, so that `dases study dropout` keeps its name)."""


def keyed_pseudonymiser(key: bytes) -> Pseudonymise:
    """HMAC-SHA256 pseudonyms under `key`, until the privacy service's own are wired in.

    Keyed, so nobody without the key can recompute a learner's pseudonym from their id; with the
    same key every provider gives a learner the same pseudonym, so shares link.
    """
    if len(key) < 16:
        raise InvalidInput("--pseudonym-key: a pseudonymisation key needs at least 16 bytes")

    def pseudonymise(ids: Sequence[int]) -> list[str]:
        return [hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:32] for value in ids]

    return pseudonymise


@app.command("dropout")
def dropout(
    out: Annotated[Path, typer.Option("--out", help="Directory for the model card, its PNG plots and metrics.json.")],
    data: Annotated[Path, typer.Option("--data-dir", envvar="DASES_OULAD_DIR", help="The directory of the OULAD CSV tables (read in place, never copied).")] = DEFAULT_OULAD,
    day: Annotated[int, typer.Option("--day", help="Day of the presentation the prediction is made on.")] = 30,
    provider: Annotated[list[str] | None, typer.Option("--provider", metavar="NAME=MOD,MOD", help="A provider and the modules it runs; repeat. Default: one provider per module.")] = None,
    consent_coverage: Annotated[float | None, typer.Option("--consent-coverage", help="Share (0..1) of learners whose consent covers this purpose, for the card.")] = None,
    k_reached: Annotated[int | None, typer.Option("--k-reached", help="The k-anonymity the privacy step reached, for the card.")] = None,
    pseudonym_key: Annotated[str | None, typer.Option("--pseudonym-key", envvar="DASES_PSEUDONYM_KEY", help="Key of the keyed pseudonyms (16+ characters); a fresh random one per run when absent.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and of the model.")] = 0,
) -> None:
    """Train on 2013, test on 2014: pooled vs provider-local models, and the model card."""
    from dases.pooling.card import write_model_card
    from dases.pooling.providers import parse_groups
    from dases.pooling.service import run_dropout_study, summary

    try:
        key = pseudonym_key.encode() if pseudonym_key else secrets.token_bytes(32)
        study = run_dropout_study(
            data,
            day=day,
            pseudonymise=keyed_pseudonymiser(key),
            groups=parse_groups(provider) if provider else None,
            consent_coverage=consent_coverage,
            k_reached=k_reached,
            resamples=resamples,
            seed=seed,
        )
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    card = write_model_card(study, out)
    console.print(f"model card: {card}")
    typer.echo(json.dumps(summary(study), indent=2))


@app.command("federated")
def federated(
    data: Annotated[Path, typer.Option("--data-dir", envvar="DASES_OULAD_DIR", help="The directory of the OULAD CSV tables.")] = DEFAULT_OULAD,
    day: Annotated[int, typer.Option("--day", help="Day of the presentation the prediction is made on.")] = 30,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=10_000, help="FedAvg rounds (5 local steps each).")] = 100,
    provider: Annotated[list[str] | None, typer.Option("--provider", metavar="NAME=MOD,MOD", help="A provider and the modules it runs; repeat. Default: one provider per module.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="inprocess: the rounds in this process; flower: one process per provider, coordinated by Flower over TLS (needs the `federated` extra).")] = "inprocess",
) -> None:
    """The dropout task trained without moving rows (FedAvg of a logistic model), against the
    same model and the gradient-boosted one trained on the pooled rows."""
    from dases.pooling.features import load_oulad
    from dases.pooling.federated import compare_frames, provider_frames
    from dases.pooling.providers import one_provider_per_module, parse_groups

    try:
        if engine not in {"inprocess", "flower"}:
            raise InvalidInput(f"--engine is inprocess or flower, not {engine!r}")
        if engine == "flower":
            from dases.pooling.flower import require_flower

            require_flower()
        groups = parse_groups(provider) if provider else one_provider_per_module(load_oulad(data))
        frames = provider_frames(data, groups, keyed_pseudonymiser(secrets.token_bytes(32)), day=day)
        result = compare_frames(frames, rounds=rounds)
        report = {
            "day": day, "rounds": result.rounds, "providers": result.providers,
            "federated_logistic_auc": round(result.federated_auc, 4),
            "pooled_logistic_auc": round(result.centralised_logistic_auc, 4),
            "pooled_boosting_auc": round(result.pooled_boosting_auc, 4),
            "gap_to_pooled_logistic": round(result.gap_to_centralised, 4),
            "gap_to_pooled_boosting": round(result.gap_to_pooled_boosting, 4),
        }  # fmt: skip
        if engine == "flower":
            from dases.pooling.flower import FederationError, run_local_federation

            try:
                run = run_local_federation(frames, rounds=rounds)
            except FederationError as error:
                raise InvalidInput(f"the federated run stopped: {error}") from None
            report["flower"] = {
                "auc_from_histograms": round(run.auc, 4), "test_rows": run.test_rows, "seconds": round(run.seconds, 1),
                "max_weight_difference_to_inprocess": float(abs(run.weights - result.weights).max()),
            }  # fmt: skip
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report, indent=2))


# --- pooled studies: create, run, and their model card ----------------------------------------

STUDY_FILE = "study.json"
model_app = typer.Typer(help="Model cards of the studies run here.", no_args_is_help=True)


def _study_dir(studies: Path, name: str) -> Path:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise InvalidInput("a study name is letters, digits, '-' and '_'")
    return studies / name


def _parse_share(spec: str) -> dict[str, object]:
    """`PROVIDER=MOD,MOD:REGISTRATIONS.csv:SUBMISSIONS.csv`, as the CLI's `--share` takes it."""
    try:
        provider, rest = spec.split("=", 1)
        modules, registrations, submissions = rest.split(":", 2)
    except ValueError:
        raise InvalidInput(f"--share {spec!r}: expected PROVIDER=MOD,MOD:REGISTRATIONS.csv:SUBMISSIONS.csv") from None
    files = {"registrations": Path(registrations).resolve(), "submissions": Path(submissions).resolve()}
    for kind, path in files.items():
        if not path.is_file():
            raise InvalidInput(f"--share {provider}: the {kind} file {path} does not exist")
    return {"provider": provider, "modules": [m.strip().upper() for m in modules.split(",") if m.strip()], **{k: str(v) for k, v in files.items()}}


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    share: Annotated[list[str], typer.Option("--share", metavar="PROVIDER=MOD,MOD:REGISTRATIONS.csv:SUBMISSIONS.csv", help="A provider's released files (by transfer, or its local export); repeat.")],
    schedule: Annotated[Path, typer.Option(help="The public course schedule (OULAD's assessments.csv and courses.csv).")] = DEFAULT_OULAD,
    k: Annotated[int, typer.Option(min=2, help="The k-anonymity the pooled rows must reach before training.")] = 5,
    day: Annotated[int, typer.Option(help="The day of the presentation predictions are made on.")] = 30,
    studies: Annotated[Path, typer.Option("--studies", help="Where studies are kept.")] = Path("studies"),
) -> None:
    """Declare a pooled study: which providers' files, which k, which day."""
    try:
        folder = _study_dir(studies, name)
        if (folder / STUDY_FILE).exists():
            raise InvalidInput(f"the study {name!r} exists already in {folder}")
        shares = [_parse_share(spec) for spec in share]
        if len({s["provider"] for s in shares}) != len(shares):
            raise InvalidInput("each provider's share is given once")
        if not (schedule / "assessments.csv").is_file() or not (schedule / "courses.csv").is_file():
            raise InvalidInput(f"--schedule {schedule}: assessments.csv and courses.csv are needed")
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "k": k, "day": day, "schedule": str(schedule.resolve()), "shares": shares}
    (folder / STUDY_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    console.print(f"study {name} created in {folder}")


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    day: Annotated[int | None, typer.Option(help="Override the study's day N.")] = None,
    pseudonym_key: Annotated[str | None, typer.Option("--pseudonym-key", envvar="DASES_PSEUDONYM_KEY", help="Key of local keyed pseudonyms (16+ characters), for a study run outside a data space; a fresh random one when absent.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    studies: Annotated[Path, typer.Option("--studies", help="Where studies are kept.")] = Path("studies"),
) -> None:
    """Pool the shares under pseudonyms, reach k, scan for identifiers, train, write the card."""
    from dases.pooling.card import write_model_card
    from dases.pooling.service import summary
    from dases.pooling.study import run_pooled_study, shares_from_exports

    try:
        folder = _study_dir(studies, name)
        if not (folder / STUDY_FILE).is_file():
            raise InvalidInput(f"no study {name!r} in {studies}: create it first")
        spec = json.loads((folder / STUDY_FILE).read_text(encoding="utf-8"))
        exports = {s["provider"]: (s["modules"], Path(s["registrations"]), Path(s["submissions"])) for s in spec["shares"]}
        shares = shares_from_exports(exports, Path(spec["schedule"]))
        key = pseudonym_key.encode() if pseudonym_key else secrets.token_bytes(32)
        pooled = run_pooled_study(shares, pseudonymise=keyed_pseudonymiser(key), day=day if day is not None else spec["day"], k=spec["k"], source=f"study {name}", resamples=resamples)
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    card = write_model_card(pooled.study, folder)
    result = {"learners": pooled.learners, "k": pooled.k, "k_reached": pooled.k_reached, "generalisation": pooled.generalisation, **summary(pooled.study)}
    (folder / "result.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"model card: {card}")
    typer.echo(json.dumps(result, indent=2, default=str))


@model_app.command("card")
def card(
    name: Annotated[str, typer.Argument(help="The study whose model card to show.")],
    studies: Annotated[Path, typer.Option("--studies", help="Where studies are kept.")] = Path("studies"),
) -> None:
    """Print a study's model card (Markdown; its plots are PNG files beside it)."""
    try:
        folder = _study_dir(studies, name)
        cards = sorted(folder.glob("*.md"))
        if not cards:
            raise InvalidInput(f"the study {name!r} has no model card yet: run it first")
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None
    typer.echo(cards[0].read_text(encoding="utf-8"))
