"""What a conversion did with every input row: converted, or skipped with a reason.

A provider hands its native logs to a converter and gets xAPI statements back; the report is how
it learns that nothing was lost silently. Per input table it counts the rows read, the rows
converted and the rows skipped per reason kind (a short kebab-case slug, with the first line
numbers as examples), and it notes what was left out of rows that were converted all the same
(a missing score, an unknown due date). `counts_add_up()` is the invariant the tests hold every
converter to: for each table, rows read = rows converted + rows skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from dases.errors import BadRequest
from dases.lrs.validation import validate_statement

#: The xAPI version converters write and validate their statements under.
XAPI_VERSION = "1.0.3"

class Skip(Exception):
    """A row that cannot be converted; `reason` is the report's kebab-case slug."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def skip_unless_valid(statement: dict[str, Any]) -> None:
    """The xAPI rules, whole, on one statement: a row the rules refuse is skipped, with the rule."""
    try:
        validate_statement(statement, XAPI_VERSION)
    except BadRequest as error:
        rule = error.errors[0].rule if error.errors else "xapi"
        raise Skip(f"invalid-statement-{rule}") from None


#: Line numbers kept per skip reason, so a provider can look at the rows themselves.
EXAMPLES_PER_REASON = 5


@dataclass
class TableReport:
    """The outcome of the rows of one input table."""

    name: str
    input_rows: int = 0
    converted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    #: Converted rows from which a part was left out, per "what: why" (not counted as skipped).
    omitted: Counter[str] = field(default_factory=Counter)
    #: The first line numbers (1 = the header) of the rows skipped for each reason.
    examples: dict[str, list[int]] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def counts_add_up(self) -> bool:
        return self.input_rows == self.converted + self.skipped_total

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "converted": self.converted,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": self.skipped_total,
            "omitted": dict(sorted(self.omitted.items())),
            "skipped_examples": {reason: lines for reason, lines in sorted(self.examples.items())},
        }


@dataclass
class ConversionReport:
    """The report of one conversion run, filled in as the converter streams its rows."""

    source: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    #: Statements produced, per kind (the DASES template or convention they follow).
    statements: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def table(self, name: str) -> TableReport:
        if name not in self.tables:
            self.tables[name] = TableReport(name)
        return self.tables[name]

    # -- recording, one call per row ------------------------------------------------------------

    def converted(self, table: str, *kinds: str) -> None:
        """One row read and converted into statements of these kinds."""
        entry = self.table(table)
        entry.input_rows += 1
        entry.converted += 1
        self.statements.update(kinds)

    def skipped(self, table: str, reason: str, line: int) -> None:
        """One row read and skipped; `reason` is a kebab-case slug such as `missing-score`."""
        entry = self.table(table)
        entry.input_rows += 1
        entry.skipped[reason] += 1
        examples = entry.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(line)

    def omitted(self, table: str, what: str) -> None:
        """Part of a converted row was left out (call it alongside `converted`)."""
        self.table(table).omitted[what] += 1

    # -- totals and the invariant ---------------------------------------------------------------

    @property
    def input_rows(self) -> int:
        return sum(entry.input_rows for entry in self.tables.values())

    @property
    def converted_rows(self) -> int:
        return sum(entry.converted for entry in self.tables.values())

    @property
    def skipped_rows(self) -> int:
        return sum(entry.skipped_total for entry in self.tables.values())

    @property
    def statement_count(self) -> int:
        return sum(self.statements.values())

    def counts_add_up(self) -> bool:
        """Every row read is accounted for, in every table: converted or skipped, never both."""
        return all(entry.counts_add_up() for entry in self.tables.values())

    # -- presentation ---------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "input_rows": self.input_rows,
            "converted_rows": self.converted_rows,
            "skipped_rows": self.skipped_rows,
            "counts_add_up": self.counts_add_up(),
            "statements": self.statement_count,
            "statements_by_kind": dict(sorted(self.statements.items())),
            "tables": {name: entry.as_dict() for name, entry in self.tables.items()},
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def rich_table(self) -> Table:
        """The report for a terminal: one block per input table, then the statements produced."""
        table = Table("table", "rows", "outcome", "count", title=f"conversion from {self.source}", title_justify="left")
        for column in table.columns:
            column.overflow = "fold"
        table.columns[3].justify = "right"
        for entry in self.tables.values():
            table.add_row(entry.name, str(entry.input_rows), "converted", str(entry.converted))
            for reason, count in sorted(entry.skipped.items()):
                table.add_row("", "", f"skipped: {reason}", str(count))
            for what, count in sorted(entry.omitted.items()):
                table.add_row("", "", f"(converted without {what})", str(count))
        table.add_section()
        for kind, count in sorted(self.statements.items()):
            table.add_row("statements", "", kind, str(count))
        check = "yes" if self.counts_add_up() else "NO"
        table.add_row("total", str(self.input_rows), f"{self.statement_count} statements in {self.seconds:.1f} s; counts add up: {check}", "")
        return table
