"""The Ralph baseline of `bench/lrs.py`, run inside Ralph's own virtual environment
(`bench/.venvs/ralph`, PyPI `ralph-malph[lrs]`), never imported by DASES.

    bench/.venvs/ralph/bin/python bench/lrs_ralph_validate.py BATCHES --rounds 5

BATCHES holds one POST body per line (a JSON array of statements, the bytes `bench/lrs.py` sends
to the DASES LRS). For each batch, interleaved so that noise hits every kind alike, it times:

- `lax`: what Ralph's LRS does to validate a POST /xAPI/statements body before it stores it
  (`ralph.api.routers.statements.post`): parse the JSON body, then
  `ralph.api.partial_success.validate_strict_statements` (one `LaxStatement` pydantic model per
  statement: actor, verb id, object id, optional UUID id), with a backend that skips the
  Elasticsearch key check (any backend but `es`). The baseline of the benchmark.
- `es_keys`: the same with Ralph's default backend setting (`RALPH_RUNSERVER_BACKEND=es`), where
  the POST also walks every key for Elasticsearch-incompatible names (RFC 3987 parse of dotted
  keys, such as extension IRIs).
- `strict`: `ralph validate -f xapi` (`ralph.models.validator.Validator`): each statement
  matched against Ralph's strict xAPI profile models (video, LMS, ...). Not on the LRS's path.

Prints one JSON object: seconds per batch for each kind, per round, and the package versions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from importlib.metadata import version

os.environ.setdefault("RALPH_RUNSERVER_BACKEND", "fs")  # ralph.api needs an installed backend at import


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("batches")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    logging.disable(logging.CRITICAL)  # the strict validator logs every refused statement
    from ralph.api.partial_success import validate_strict_statements
    from ralph.conf import settings
    from ralph.models.selector import ModelSelector
    from ralph.models.validator import Validator

    with open(args.batches, "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()]
    lines = [[json.dumps(item) for item in json.loads(body)] for body in bodies]
    validator = Validator(ModelSelector(module="ralph.models.xapi"))

    def lax(body: bytes) -> int:
        return len(validate_strict_statements(json.loads(body)))

    def es_keys(body: bytes) -> int:
        settings.RUNSERVER_BACKEND = "es"
        try:
            return len(validate_strict_statements(json.loads(body)))
        finally:
            settings.RUNSERVER_BACKEND = "fs"

    def strict(statement_lines: list[str]) -> int:
        return sum(1 for _ in validator.validate(iter(statement_lines), ignore_errors=True, fail_on_unknown=False))

    # Warm-up: the first validation of each model builds pydantic's validators.
    lax(bodies[0])
    es_keys(bodies[0])
    strict(lines[0])

    result: dict[str, object] = {"lax": [], "es_keys": [], "strict": [], "strict_valid": 0, "statements": sum(map(len, lines))}
    for round_number in range(args.rounds):
        for body, statement_lines in zip(bodies, lines, strict=True):
            for kind, run, argument in (("lax", lax, body), ("es_keys", es_keys, body), ("strict", strict, statement_lines)):
                start = time.perf_counter()
                count = run(argument)
                result[kind].append(time.perf_counter() - start)
                if kind == "strict" and round_number == 0:
                    result["strict_valid"] += count
                elif kind != "strict" and count != len(statement_lines):
                    raise SystemExit(f"Ralph validated {count} statements of {len(statement_lines)}")
    result["versions"] = {name: version(name) for name in ("ralph-malph", "pydantic", "pydantic-core", "fastapi")}
    result["python"] = sys.version.split()[0]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
