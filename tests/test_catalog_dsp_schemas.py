"""An offline validator of Dataspace Protocol 2025-1 messages, for the catalog tests: the JSON
Schemas of ../shared/specs/dsp/ (draft 2019-09) with every `$id` under
https://w3id.org/dspace/2025/1/ resolved locally, never over the network. The tests here prove
the validator itself: it accepts the specification's own examples and rejects broken ones."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft201909Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

DSP_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dsp"

SCHEMAS = {
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "DatasetRequestMessage": "catalog/dataset-request-message-schema.json",
}


@cache
def _registry() -> Registry[Any]:
    """Every schema file under the DSP folder, registered under its own `$id`."""
    resources = []
    for path in sorted(DSP_DIR.rglob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and "$id" in document:
            resources.append((document["$id"], Resource.from_contents(document, default_specification=DRAFT201909)))
    return Registry().with_resources(resources)


@cache
def _validator(kind: str) -> Draft201909Validator:
    schema = json.loads((DSP_DIR / SCHEMAS[kind]).read_text())
    return Draft201909Validator(schema, registry=_registry())


def dsp_violations(kind: str, document: Any) -> list[str]:
    """What makes `document` not a valid DSP `kind` (Catalog, Dataset, CatalogError...); [] when valid."""
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}" for error in _validator(kind).iter_errors(document)]


def assert_dsp(kind: str, document: Any) -> None:
    violations = dsp_violations(kind, document)
    assert not violations, f"not a valid DSP {kind}:\n" + "\n".join(violations)


def _example(name: str) -> Any:
    return json.loads((DSP_DIR / "catalog" / "example" / name).read_text())


@pytest.mark.parametrize(
    ("kind", "example"),
    [
        ("Catalog", "catalog.json"),
        ("Catalog", "nested-catalog.json"),
        ("Dataset", "dataset.json"),
        ("CatalogError", "catalog-error.json"),
        ("CatalogRequestMessage", "catalog-request-message.json"),
        ("DatasetRequestMessage", "dataset-request-message.json"),
    ],
)
def test_the_specification_examples_are_valid(kind: str, example: str) -> None:
    assert_dsp(kind, _example(example))


def test_every_schema_resolves_offline() -> None:
    resolver = _registry().resolver()
    for relative in SCHEMAS.values():
        document = json.loads((DSP_DIR / relative).read_text())
        assert resolver.lookup(document["$id"]).contents == document


def test_a_dataset_without_offer_or_distribution_is_refused() -> None:
    dataset = _example("dataset.json")
    for missing in ("hasPolicy", "distribution"):
        broken = copy.deepcopy(dataset)
        del broken[missing]
        assert any(missing in violation for violation in dsp_violations("Dataset", broken))


def test_an_offer_with_a_target_or_an_unknown_operator_is_refused() -> None:
    with_target = _example("dataset.json")
    with_target["hasPolicy"][0]["target"] = "urn:uuid:other"
    assert dsp_violations("Dataset", with_target)
    bad_operator = _example("dataset.json")
    bad_operator["hasPolicy"][0]["permission"][0]["constraint"][0]["operator"] = "roughly"
    assert dsp_violations("Dataset", bad_operator)


def test_a_catalog_needs_the_dsp_context_and_a_participant() -> None:
    catalog = _example("catalog.json")
    no_context = {**catalog, "@context": ["https://example.org/other.jsonld"]}
    assert dsp_violations("Catalog", no_context)
    no_participant = {key: value for key, value in catalog.items() if key != "participantId"}
    assert any("participantId" in violation for violation in dsp_violations("Catalog", no_participant))
    assert dsp_violations("Catalog", {**catalog, "dataset": []}), "DSP wants no empty dataset array"
