"""Generic CSV / JSON lines to xAPI through a mapping file: the statements follow the template, value
maps, defaults, types and skip conditions apply, a statement the xAPI rules refuse is skipped with
its rule, the counts add up, ids are deterministic, and a mapping that tries anything but plain
`{name}` references (attribute access, conversions, format specs) or names an unknown column is
refused when the converter is built.

Inputs and mappings are written by hand in the test's temporary directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dases.errors import InvalidInput
from dases.interop.mapping import MappingConverter
from dases.interop.report import ConversionReport
from dases.lrs.validation import validate_statement

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"

CSV_TEXT = """user_id;course;status;score;when;note
42;math-1;done;87;2024-03-01 10:15;
43;math-1;tried;;2024-03-02 11:00;
44;math-1;draft;10;2024-03-03 12:00;
45;math-1;done;abc;2024-03-04 13:00;
;math-1;done;50;2024-03-05 14:00;
46;math-1;unknown;50;2024-03-05 14:00;
47;math 1;done;50;2024-03-06 15:00;
"""


def csv_mapping() -> dict[str, Any]:
    return {
        "input": {"format": "csv", "delimiter": ";"},
        "id": ["user_id", "course", "when"],
        "kind": "completed a course",
        "statement": {
            "actor": {"objectType": "Agent", "account": {"homePage": "{@home_page}", "name": "{user_id}"}},
            "verb": {"id": "{status}"},
            "object": {"objectType": "Activity", "id": "{@home_page}/courses/{course}"},
            "result": {"score": {"raw": "{score}", "min": 0, "max": 100}, "extensions": {"https://x.org/ext/note": "{note}"}},
            "timestamp": "{when}",
        },
        "value_maps": {"status": {"done": COMPLETED, "tried": ATTEMPTED}},
        "defaults": {"score": 0},
        "types": {"score": "int", "when": {"type": "datetime", "format": "%Y-%m-%d %H:%M"}},
        "skip_when": [{"column": "user_id", "empty": True}, {"column": "status", "equals": "draft", "reason": "draft"}],
    }


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_mapping(tmp_path: Path, mapping: dict[str, Any], name: str = "mapping.json") -> Path:
    return write(tmp_path, name, json.dumps(mapping))


def run(converter: MappingConverter) -> tuple[list[dict[str, Any]], ConversionReport]:
    report = ConversionReport("mapping")
    statements = list(converter.statements(report))
    assert report.counts_add_up()
    assert report.statement_count == len(statements)
    for statement in statements:
        validate_statement(statement, "1.0.3")
    return statements, report


def test_csv_conversion(tmp_path: Path) -> None:
    converter = MappingConverter(write(tmp_path, "log.csv", CSV_TEXT), home_page="https://lms.example.org/", mapping=write_mapping(tmp_path, csv_mapping()))
    assert converter.estimated_rows() == 7
    statements, report = run(converter)
    table = report.tables["log.csv"]
    assert table.input_rows == 7 and table.converted == 2
    assert dict(table.skipped) == {
        "draft": 1,  # skip_when equals, with its reason
        "invalid-score": 1,  # "abc" is no int
        "empty-user_id": 1,  # skip_when empty
        "unmapped-status": 1,  # no entry in the value map
        "invalid-statement-iri": 1,  # "math 1" makes an object id with a space
    }
    assert table.examples["draft"] == [4]
    assert report.statements == {"completed a course": 2}
    first, second = statements
    assert first["actor"] == {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": "42"}}
    assert first["verb"] == {"id": COMPLETED}
    assert first["object"] == {"objectType": "Activity", "id": "https://lms.example.org/courses/math-1"}
    assert first["result"] == {"score": {"raw": 87, "min": 0, "max": 100}}  # the note is empty: left out
    assert first["timestamp"] == "2024-03-01T10:15:00Z"
    assert second["verb"]["id"] == ATTEMPTED
    assert second["result"]["score"]["raw"] == 0  # the default, typed
    assert table.omitted["statement.result.extensions.https://x.org/ext/note: no note"] == 2


def test_ids_are_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", CSV_TEXT)
    mapping = write_mapping(tmp_path, csv_mapping())
    first, _ = run(MappingConverter(path, mapping=mapping))
    again, _ = run(MappingConverter(path, mapping=mapping))
    assert first == again
    assert len({statement["id"] for statement in first}) == len(first)
    other, _ = run(MappingConverter(path, mapping=mapping, home_page="https://other.example.org"))
    assert {s["id"] for s in other}.isdisjoint(s["id"] for s in first)


JSONL_TEXT = "\n".join(
    [
        json.dumps({"actor": {"id": 7}, "event": {"type": "video.completed", "at": 1709287200, "progress": "0.5"}, "ok": "yes"}),
        json.dumps({"actor": {"id": 8}, "event": {"type": "video.completed", "at": 1709287260}, "ok": "no"}),
        "",
        "not json",
        "[1, 2]",
        json.dumps({"actor": {"id": 9}, "event": {"type": "video.completed", "at": "soon"}}),
    ]
)


def jsonl_mapping() -> dict[str, Any]:
    return {
        "input": {"format": "jsonl"},
        "statement": {
            "actor": {"account": {"homePage": "https://lms.example.org", "name": "{actor.id}"}},
            "verb": {"id": "{event.type}", "display": {"en-US": "completed"}},
            "object": {"id": "https://lms.example.org/videos/1"},
            "result": {"success": "{ok}", "extensions": {"https://x.org/progress": "{event.progress}"}},
            "timestamp": "{event.at}",
        },
        "value_maps": {"event.type": {"video.completed": COMPLETED}},
        "types": {"actor.id": "string", "event.at": "unix", "ok": "bool", "event.progress": "float"},
    }


def test_jsonl_conversion(tmp_path: Path) -> None:
    path = write(tmp_path, "events.jsonl", JSONL_TEXT)
    mapping = write_mapping(tmp_path, jsonl_mapping())
    statements, report = run(MappingConverter(path, mapping=mapping))
    table = report.tables["events.jsonl"]
    assert table.converted == 2
    assert dict(table.skipped) == {"not-json": 1, "not-an-object": 1, "invalid-event.at": 1}
    first, second = statements
    assert first["actor"]["account"]["name"] == "7"
    assert first["verb"]["id"] == COMPLETED
    assert first["timestamp"] == "2024-03-01T10:00:00Z"
    assert first["result"] == {"success": True, "extensions": {"https://x.org/progress": 0.5}}
    assert second["result"] == {"success": False}
    # No `id` columns: the id is over the whole record, still deterministic.
    again, _ = run(MappingConverter(path, mapping=mapping))
    assert [s["id"] for s in again] == [s["id"] for s in statements]


def test_toml_mapping(tmp_path: Path) -> None:
    toml = """
kind = "completed"
[input]
format = "csv"
[statement]
verb = { id = "http://adlnet.gov/expapi/verbs/completed" }
object = { id = "https://lms.example.org/c/{course}" }
timestamp = "{t}"
[statement.actor.account]
homePage = "https://lms.example.org"
name = "{u}"
[types]
t = "unix"
"""
    path = write(tmp_path, "in.csv", "u,course,t\n1,c1,0\n")
    statements, _ = run(MappingConverter(path, mapping=write(tmp_path, "m.toml", toml)))
    assert statements[0]["timestamp"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("reference", ["{user_id.__class__}", "{user_id!r}", "{user_id:>10}", "{0}x{", "x}", "{user_id[0]}", "{}", "{a.__globals__}"])
def test_unsafe_references_are_refused_at_load(tmp_path: Path, reference: str) -> None:
    mapping = csv_mapping()
    mapping["statement"]["actor"]["account"]["name"] = reference
    path = write_mapping(tmp_path, mapping)
    with pytest.raises(InvalidInput) as caught:
        MappingConverter(write(tmp_path, "log.csv", CSV_TEXT), mapping=path)
    assert str(path) in caught.value.detail
    assert "statement.actor.account.name" in caught.value.detail


def test_dunder_path_refused_for_json_too(tmp_path: Path) -> None:
    mapping = jsonl_mapping()
    mapping["statement"]["object"]["id"] = "https://x.org/{actor.__dict__}"
    with pytest.raises(InvalidInput, match="__"):
        MappingConverter(write(tmp_path, "e.jsonl", JSONL_TEXT), mapping=write_mapping(tmp_path, mapping))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["statement"]["object"].update(id="https://x.org/{nope}"), "'nope' referenced, but log.csv has no such column"),
        (lambda m: m.update(extra=1), "unknown key 'extra'"),
        (lambda m: m["types"].update(score="integer"), "'integer' is not a type name"),
        (lambda m: m["types"].update(nope="int"), "'nope' is referenced nowhere"),
        (lambda m: m["input"].update(format="xml"), "'xml' is not a format"),
        (lambda m: m["statement"].update(id="x"), "statement.id is made by the converter"),
        (lambda m: m["skip_when"].append({"column": "status"}), "exactly one of empty"),
        (lambda m: m["types"].update(score={"type": "int", "format": "%Y"}), "only a datetime has a format"),
    ],
)
def test_bad_mappings_are_refused_at_load(tmp_path: Path, change: Any, message: str) -> None:
    mapping = csv_mapping()
    change(mapping)
    with pytest.raises(InvalidInput, match=message):
        MappingConverter(write(tmp_path, "log.csv", CSV_TEXT), mapping=write_mapping(tmp_path, mapping))


def test_default_stands_in_for_an_absent_column(tmp_path: Path) -> None:
    mapping = csv_mapping()
    mapping["statement"]["context"] = {"platform": "{platform}"}
    mapping["defaults"]["platform"] = "Legacy LMS"
    statements, _ = run(MappingConverter(write(tmp_path, "log.csv", CSV_TEXT), mapping=write_mapping(tmp_path, mapping)))
    assert {s["context"]["platform"] for s in statements} == {"Legacy LMS"}


def test_invalid_mapping_json_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", "{")
    with pytest.raises(InvalidInput, match="broken.json: not valid JSON"):
        MappingConverter(write(tmp_path, "log.csv", CSV_TEXT), mapping=path)


def test_dases_convert_from_mapping_needs_the_mapping_file_and_uses_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dases.cli import app

    source = tmp_path / "grades.csv"
    source.write_text("user,course\n7,algebra\n")
    rules = tmp_path / "mapping.json"
    rules.write_text(json.dumps({
        "input": {"format": "csv"},
        "statement": {
            "actor": {"account": {"homePage": "{@home_page}", "name": "{user}"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": "{@home_page}/courses/{course}"},
        },
    }))
    out = tmp_path / "out.jsonl"
    without = CliRunner().invoke(app, ["convert", "--from", "mapping", str(source), "--to", str(out)], env={"COLUMNS": "200"})
    assert without.exit_code == 2 and "--mapping" in without.output
    result = CliRunner().invoke(app, ["convert", "--from", "mapping", str(source), "--to", str(out), "--mapping", str(rules), "--report-json", "-"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["converted_rows"] == 1
    [statement] = [json.loads(line) for line in out.read_text().splitlines()]
    assert statement["object"]["id"] == "https://lms.example.org/courses/algebra"
