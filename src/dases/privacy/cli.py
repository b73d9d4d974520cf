"""`dases privacy measure|generalise`: a provider's local check of a table before it leaves.

Works on CSV or Parquet files, offline, with no node running: the provider measures k,
l-diversity and t-closeness over its declared quasi-identifiers, and generalises the table to a
target k with hierarchies given as JSON (`{"column": [["value", "level 1", ...], ...]}`) or the
built-in OULAD ones. Exit code 2 names the broken input (a missing column, a value without a
generalisation, an unreachable k).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dases.errors import DasesError

if TYPE_CHECKING:  # Polars is imported by the commands that read a table: ~40 MiB, not for every `dases` call
    import polars as pl

app = typer.Typer(help="Measure and reach k-anonymity on a table before it leaves the provider.", no_args_is_help=True)

Table = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV or Parquet file.")]


def _read(path: Path) -> pl.DataFrame:
    import polars as pl

    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path).with_columns(pl.all().cast(pl.String))
    return pl.read_csv(path, infer_schema_length=0)


def _fail(error: DasesError) -> typer.Exit:
    typer.echo(f"error: {error.detail}", err=True)
    for problem in error.errors:
        typer.echo(f"  {problem.field}: {problem.message}", err=True)
    return typer.Exit(2)


@app.command()
def measure(
    table: Table,
    qi: Annotated[list[str], typer.Option("--qi", help="A quasi-identifier column (repeat the option).")],
    sensitive: Annotated[str | None, typer.Option(help="The sensitive column, for l-diversity and t-closeness.")] = None,
    order: Annotated[str | None, typer.Option(help="The sensitive values in order, comma-separated (ordinal t-closeness).")] = None,
) -> None:
    """Print k (smallest class), and with --sensitive, distinct l and t, as JSON."""
    from dases.privacy.anonymity import k_anonymity, l_diversity, t_closeness

    try:
        frame = _read(table)
        result: dict[str, object] = {"rows": frame.height, "quasi_identifiers": qi, "k": k_anonymity(frame, qi)}
        if sensitive is not None:
            result["l"] = l_diversity(frame, qi, sensitive)
            result["t"] = round(t_closeness(frame, qi, sensitive, order.split(",") if order else None), 6)
    except DasesError as error:
        raise _fail(error) from None
    typer.echo(json.dumps(result))


@app.command()
def generalise(
    table: Table,
    k: Annotated[int, typer.Option(min=1, help="The k to reach.")],
    out: Annotated[Path, typer.Option(help="Where to write the released table (.csv or .parquet).")],
    hierarchies: Annotated[str, typer.Option(help="'oulad' or a JSON file of hierarchies; its columns are the quasi-identifiers.")] = "oulad",
    max_suppression: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of rows that may be suppressed (full-domain).")] = 0.02,
    local: Annotated[bool, typer.Option("--local", help="Local recoding: groups of rows keep different precision, nothing suppressed.")] = False,
) -> None:
    """Write the least-loss generalisation reaching k; print its report (levels, suppressed, NCP loss) as JSON."""
    from dases.privacy.anonymity import generalise as generalise_frame
    from dases.privacy.anonymity import hierarchies_from_data
    from dases.privacy.hierarchies import OULAD_HIERARCHIES
    from dases.privacy.local import specialise

    try:
        declared = OULAD_HIERARCHIES if hierarchies == "oulad" else json.loads(Path(hierarchies).read_text())
        frame, parsed = _read(table), hierarchies_from_data(declared)
        result = specialise(frame, parsed, k) if local else generalise_frame(frame, parsed, k, max_suppression=max_suppression)
    except DasesError as error:
        raise _fail(error) from None
    except (OSError, ValueError) as error:
        typer.echo(f"error: cannot read the hierarchies {hierarchies}: {error}", err=True)
        raise typer.Exit(2) from None
    if out.suffix.lower() == ".parquet":
        result.frame.write_parquet(out)
    else:
        result.frame.write_csv(out)
    typer.echo(json.dumps(result.report()))
