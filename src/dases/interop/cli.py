"""`dases convert`: a provider's native logs to xAPI statements of the DASES profiles, into a file or an LRS."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dases.errors import DasesError, InvalidInput, UpstreamError
from dases.interop import caliper, mapping, moodle, openedx, oulad
from dases.interop.output import is_lrs_url, open_writer, parse_basic_auth
from dases.interop.report import ConversionReport


@dataclass(frozen=True)
class Converter:
    what: str
    build: Callable[..., Any]
    default_home_page: str


#: The converters built, by `--from` name.
CONVERTERS = {
    oulad.SOURCE: Converter("the Open University Learning Analytics Dataset: the directory of its CSV tables", oulad.OuladConverter, oulad.DEFAULT_HOME_PAGE),
    moodle.SOURCE: Converter("Moodle's logstore_standard_log exported as CSV: a file or a directory of them", moodle.MoodleConverter, moodle.DEFAULT_HOME_PAGE),
    openedx.SOURCE: Converter("an Open edX tracking log: JSON lines, one event a line, gzip or not", openedx.OpenEdxConverter, openedx.DEFAULT_HOME_PAGE),
    mapping.SOURCE: Converter("any CSV or JSON lines file, through a declarative mapping file (--mapping)", mapping.MappingConverter, mapping.DEFAULT_HOME_PAGE),
    caliper.SOURCE: Converter("IMS Caliper 1.1 / 1.2 events or envelopes as JSON lines: a file or a directory", caliper.CaliperConverter, caliper.DEFAULT_HOME_PAGE),
}
console = Console(stderr=True)


def _refuse_source(source: str) -> None:
    available = ", ".join(f"{name} ({converter.what})" for name, converter in CONVERTERS.items())
    console.print(f"[red]error:[/red] no converter for {source!r}; available: {available}")
    raise typer.Exit(2)


def convert(
    input_dir: Annotated[Path, typer.Argument(help="The source's files: a file, or a directory (for oulad: the directory of its CSV tables).", exists=True)],
    source: Annotated[str, typer.Option("--from", metavar="SOURCE", help=f"What INPUT_DIR holds: {', '.join(CONVERTERS)}.")],
    target: Annotated[str, typer.Option("--to", metavar="FILE|LRS_URL", help="A JSON-lines file (gzipped if it ends in .gz), or an LRS endpoint URL such as https://lrs.example.org/xapi/.")],
    lrs_auth: Annotated[str | None, typer.Option("--lrs-auth", envvar="DASES_LRS_AUTH", metavar="USER:PASSWORD", help="HTTP Basic credentials for the LRS.")] = None,
    home_page: Annotated[str | None, typer.Option("--home-page", help="The homePage of the learners' accounts: the provider's platform (each source has a placeholder default).")] = None,
    mapping_file: Annotated[Path | None, typer.Option("--mapping", exists=True, dir_okay=False, help="The mapping file (JSON or TOML) for --from mapping.")] = None,
    report_json: Annotated[str | None, typer.Option("--report-json", metavar="FILE", help="Also write the report as JSON to FILE ('-' for stdout).")] = None,
) -> None:
    """Convert INPUT_DIR to xAPI 1.0.3 statements of the DASES profiles, then print what became of every row."""
    if source not in CONVERTERS:
        _refuse_source(source)
    try:
        auth = parse_basic_auth(lrs_auth) if lrs_auth and is_lrs_url(target) else None
        chosen = CONVERTERS[source]
        options: dict[str, Any] = {"home_page": home_page or chosen.default_home_page}
        if source == mapping.SOURCE:
            if mapping_file is None:
                raise InvalidInput("--from mapping needs --mapping FILE: the mapping of the input's columns to xAPI")
            options["mapping"] = mapping_file
        converter = chosen.build(input_dir, **options)
        writer = open_writer(target, auth=auth)
    except DasesError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(2) from None

    report = ConversionReport(source)
    started = time.perf_counter()
    failure: DasesError | None = None
    columns = (TextColumn(f"converting {source}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        rows = progress.add_task("rows", total=converter.estimated_rows())
        try:
            with writer:
                for statement in converter.statements(report, on_rows=lambda n: progress.advance(rows, n)):
                    writer.write(statement)
        except DasesError as error:
            failure = error
    report.seconds = time.perf_counter() - started

    console.print(report.rich_table())
    if report_json == "-":
        typer.echo(report.to_json())
    elif report_json:
        Path(report_json).write_text(report.to_json() + "\n", encoding="utf-8")
    if failure is not None:
        console.print(f"[red]error:[/red] {failure.detail}")
        if isinstance(failure, UpstreamError):
            console.print("statement ids are deterministic: running the same conversion again stores nothing twice")
        raise typer.Exit(1)
    where = f"posted to the LRS at {target}" if is_lrs_url(target) else f"written to {target}"
    console.print(f"{writer.written} statements {where}")
