"""VC 2.0 data-model validator against the W3C test-suite fixtures, plus focused cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dases.identity.vcdm import (
    CREDENTIALS_V2_CONTEXT,
    Violation,
    parse_datetime,
    validate_credential,
    validate_document,
    validate_presentation,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "specs" / "vc-fixtures"

# Fixtures the W3C suite uses for holder/issuer binding checks: no ok/fail verdict.
NO_VERDICT = {
    "presentation-self-asserted-vc-holder-mismatch.json",
    "presentation-self-asserted-vc-issuer-mismatch.json",
    "presentation-self-asserted-vc-no-holder.json",
}
FAIL_SUFFIXES = ("-fail.json", "-fail-or-inject.json")


def _fixture_files() -> list[Path]:
    return sorted(FIXTURES.rglob("*.json")) if FIXTURES.is_dir() else []


def _verdict(path: Path) -> str | None:
    if path.name.endswith("-ok.json"):
        return "ok"
    if path.name.endswith(FAIL_SUFFIXES):
        return "fail"
    return None


def _cases(verdict: str) -> list[pytest.param]:
    return [
        pytest.param(path, id=path.relative_to(FIXTURES).as_posix())
        for path in _fixture_files()
        if _verdict(path) == verdict
    ]


def _load(path: Path) -> object:
    """Read a fixture, filling in the dates the W3C harness substitutes before use."""
    now = datetime.now(UTC).replace(microsecond=0)
    text = path.read_text(encoding="utf-8")
    text = text.replace("PAST DATE", (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    text = text.replace("FUTURE DATE", (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return json.loads(text)


def _validate_fixture(path: Path) -> list[Violation]:
    """Presentations as presentations; credential fixtures are issuer inputs."""
    doc = _load(path)
    if path.name.startswith("presentation-"):
        return validate_presentation(doc)
    return validate_credential(doc, issuer_input=True)


def test_fixture_corpus_is_present_and_classified() -> None:
    files = _fixture_files()
    assert files, f"no fixtures under {FIXTURES}"
    unclassified = {p.name for p in files if _verdict(p) is None}
    assert unclassified == NO_VERDICT


@pytest.mark.parametrize("path", _cases("ok"))
def test_ok_fixture_is_accepted(path: Path) -> None:
    violations = _validate_fixture(path)
    assert violations == [], violations


@pytest.mark.parametrize("path", _cases("fail"))
def test_fail_fixture_is_rejected(path: Path) -> None:
    assert _validate_fixture(path) != []


# -- focused cases ---------------------------------------------------------------------------

MEMBERSHIP_VOCAB = "https://dases.example/vocab#"


def membership_credential(**changes: object) -> dict[str, object]:
    credential: dict[str, object] = {
        "@context": [
            CREDENTIALS_V2_CONTEXT,
            {"MembershipCredential": MEMBERSHIP_VOCAB + "MembershipCredential",
             "memberOf": MEMBERSHIP_VOCAB + "memberOf"},
        ],
        "id": "urn:uuid:0b3f6a1e-8c1d-4a5e-9a57-3f0c2a6d9b11",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": "did:web:example.org",
        "name": "Data space membership",
        "validFrom": "2025-01-01T00:00:00Z",
        "validUntil": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:web:member.example", "memberOf": "did:web:example.org"},
    }
    credential.update(changes)
    return credential


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def test_membership_credential_is_valid() -> None:
    assert validate_credential(membership_credential()) == []
    assert validate_document(membership_credential()) == []


def test_missing_issuer_is_only_acceptable_on_issuer_input() -> None:
    credential = membership_credential()
    del credential["issuer"]
    violations = validate_credential(credential)
    assert [(v.path, v.rule) for v in violations] == [("issuer", "issuer.required")]
    assert validate_credential(credential, issuer_input=True) == []
    assert validate_credential(membership_credential(issuer={}), issuer_input=True) == []
    assert rules(validate_credential(membership_credential(issuer={}))) == {"issuer.id_required"}


@pytest.mark.parametrize("issuer", [None, "not-a-url", {"id": None}, {"id": "not-a-url"}, 7])
def test_wrong_issuer_is_rejected_even_on_issuer_input(issuer: object) -> None:
    violations = validate_credential(membership_credential(issuer=issuer), issuer_input=True)
    assert violations and all(v.path.startswith("issuer") for v in violations)


def test_expired_or_future_credential_is_not_a_data_model_violation() -> None:
    expired = membership_credential(validFrom="2001-01-01T00:00:00Z",
                                    validUntil="2002-01-01T00:00:00Z")
    future = membership_credential(validFrom="3001-01-01T00:00:00+02:00", validUntil=None)
    del future["validUntil"]
    assert validate_credential(expired) == []
    assert validate_credential(future) == []


def test_validity_period_must_not_be_inverted() -> None:
    credential = membership_credential(validFrom="2026-01-01T00:00:00Z",
                                       validUntil="2026-01-01T01:00:00+02:00")
    assert [(v.path, v.rule) for v in validate_credential(credential)] == [
        ("validUntil", "validity.order")
    ]


def test_violations_name_path_rule_and_field() -> None:
    credential = membership_credential(
        **{"@context": [CREDENTIALS_V2_CONTEXT, 42], "credentialSubject": [{"id": "x:y"}, {}]}
    )
    violations = validate_credential(credential)
    by_path = {v.path: v for v in violations}
    assert by_path["@context[1]"].rule == "context.item_invalid"
    assert by_path["@context[1]"].message == "@context[1] must be a URL or an object (got number)"
    assert by_path["credentialSubject[1]"].rule == "subject.no_claims"
    for v in violations:
        assert v.path and v.rule and v.path in v.message


def test_embedded_credential_paths_are_prefixed() -> None:
    credential = membership_credential()
    del credential["issuer"]
    presentation = {
        "@context": [CREDENTIALS_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [credential],
    }
    assert [(v.path, v.rule) for v in validate_document(presentation)] == [
        ("verifiableCredential[0].issuer", "issuer.required")
    ]


def test_undefined_type_needs_a_defining_context() -> None:
    """The published v2 context has no @vocab: undefined terms need undefined-terms/v2."""
    bare = membership_credential(**{"@context": [CREDENTIALS_V2_CONTEXT]})
    assert rules(validate_credential(bare)) == {"type.unmapped"}
    vocab = membership_credential(
        **{"@context": [CREDENTIALS_V2_CONTEXT,
                        "https://www.w3.org/ns/credentials/undefined-terms/v2"]}
    )
    assert validate_credential(vocab) == []


def test_protected_terms_cannot_be_redefined() -> None:
    def with_inline(inline: dict[str, object]) -> dict[str, object]:
        context = membership_credential()["@context"]
        assert isinstance(context, list)
        return membership_credential(**{"@context": [*context, inline]})

    # Restating the v2 definition is not a redefinition in JSON-LD.
    assert validate_credential(with_inline({"name": "https://schema.org/name"})) == []
    redefined = validate_credential(with_inline({"issuer": "https://evil.example/issuer"}))
    assert [(v.path, v.rule) for v in redefined] == [
        ("@context[2].issuer", "context.protected_term")
    ]
    earlier = with_inline({"@protected": True, "Badge": "https://dases.example/vocab#Badge"})
    earlier["@context"].append({"Badge": "https://evil.example/Badge"})  # type: ignore[union-attr]
    assert rules(validate_credential(earlier)) == {"context.protected_term"}


@pytest.mark.parametrize("value", [
    "2023-02-26T01:02:58.447Z", "2023-02-25T19:10:39-06:00", "2024-02-29T24:00:00+14:00",
])
def test_parse_datetime_accepts_datetimestamps(value: str) -> None:
    assert parse_datetime(value) is not None


@pytest.mark.parametrize("value", [
    "Sat 25 Feb 2023 07:16:31 PM CST", "2023-02-26T01:02:58", "2023-02-30T00:00:00Z",
    "2023-02-26T01:02:58+15:00", "2023-02-26 01:02:58Z", "2023-02-26T01:02:58Z\n",
])
def test_parse_datetime_rejects_other_strings(value: str) -> None:
    assert parse_datetime(value) is None


def test_parse_datetime_compares_instants() -> None:
    utc = parse_datetime("2023-02-26T01:21:29Z")
    assert utc is not None and parse_datetime("2023-02-25T19:21:29-06:00") == utc


@pytest.mark.parametrize("doc", [None, [], "VerifiableCredential", 3, True])
def test_non_object_documents_are_violations(doc: object) -> None:
    assert rules(validate_document(doc)) == {"document.not_object"}
    assert rules(validate_presentation(doc)) == {"document.not_object"}


_KEYS = st.sampled_from([
    "@context", "type", "id", "issuer", "credentialSubject", "validFrom", "validUntil", "name",
    "description", "credentialStatus", "credentialSchema", "evidence", "proof", "holder",
    "verifiableCredential", "relatedResource", "termsOfUse", "refreshService", "@protected",
    "@vocab", "@id", "@value", "@language", "@direction", "VerifiableCredential",
]) | st.text(max_size=8)
_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([CREDENTIALS_V2_CONTEXT, "VerifiableCredential", "VerifiablePresentation",
                       "EnvelopedVerifiableCredential", "did:example:1", "data:,x", "ex:Foo",
                       "2023-02-26T01:02:58Z", "https ://x", "ltr", "@id"])
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_validators_never_raise(doc: object) -> None:
    for result in (
        validate_document(doc),
        validate_presentation(doc),
        validate_credential(doc),
        validate_credential(doc, issuer_input=True, path="vc"),
    ):
        assert isinstance(result, list)
        assert all(isinstance(v, Violation) and v.path and v.rule for v in result)
