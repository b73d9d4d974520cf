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
