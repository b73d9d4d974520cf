"""Bulk import of statements from a file, with a report of what was refused and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dases.db import Database
from dases.errors import DasesError
from dases.lrs import service
from dases.lrs.cli import read_statements
from dases.lrs.validation import normalise_statement, validate_statement

#: Statements imported from a file are stored under this authority.
IMPORT_AUTHORITY = {"objectType": "Agent", "name": "dases lrs import", "account": {"homePage": "urn:dases:lrs", "name": "import"}}


@dataclass
class ImportResult:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def import_file(
    db: Database,
    store: str,
    path: Path,
    *,
    version: str = "1.0.3",
    batch: int = 1000,
    rejects_path: Path,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> ImportResult:
    result = ImportResult()
    pending: list[dict[str, Any]] = []
    pending_ids: set[str] = set()
    pending_lines: list[int] = []
    refused: list[int] = []
    with rejects_path.open("w", encoding="utf-8") as rejects:

        def reject(line: int, reason: str, rule: str, field: str) -> None:
            result.rejected += 1
            rejects.write(json.dumps({"line": line, "field": field, "rule": rule, "reason": reason}) + "\n")

        def flush() -> None:
            if not pending:
                return
            before = len(pending)
            try:
                with db.transaction() as session:
                    fresh = service.store_statements(session, store, pending, authority=IMPORT_AUTHORITY, version=version).fresh
            except DasesError:
                fresh = store_one_by_one()
            result.stored += fresh
            result.duplicates += before - fresh - len(refused)
            refused.clear()
            on_progress(before)
            pending.clear()
            pending_ids.clear()
            pending_lines.clear()

        def store_one_by_one() -> int:
            """A batch refused as a whole (an id stored earlier with other content, a voiding of
            a voiding statement): store what can be stored and report the rest."""
            fresh = 0
            for statement, line in zip(pending, pending_lines, strict=True):
                try:
                    with db.transaction() as session:
                        fresh += service.store_statements(session, store, [statement], authority=IMPORT_AUTHORITY, version=version).fresh
                except DasesError as error:
                    refused.append(line)
                    first = error.errors[0] if error.errors else None
                    reject(line, error.detail, first.rule if first else error.slug, first.field if first else "id")
            return fresh

        for line, item in read_statements(path):
            if isinstance(item, ValueError):
                reject(line, str(item), "json", "line")
                on_progress(1)
                continue
            try:
                validate_statement(item, version)
            except DasesError as error:
                first = error.errors[0] if error.errors else None
                reject(line, error.detail, first.rule if first else "invalid", first.field if first else "statement")
                on_progress(1)
                continue
            identifier = (item.get("id") or "").lower()
            if identifier and identifier in pending_ids:
                flush()
            if identifier:
                pending_ids.add(identifier)
            pending.append(normalise_statement(item))
            pending_lines.append(line)
            if len(pending) >= batch:
                flush()
        flush()
    return result
