"""Privacy notices are generated from the offering's ODRL policy, in plain French and English,
and carry a version that changes exactly when what the learner is told changes."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dases.consent import notices
from dases.consent.notices import (
    MONTHS,
    NOTICE_TEMPLATE_VERSION,
    TEMPLATES,
    Notice,
    NoticeTerms,
    format_date,
    notice_version,
    render_notice,
    terms_from_policy,
)
from dases.consent.plain_language import DATA_CATEGORIES, LEGAL_BASES, PURPOSES
from dases.consent.purposes import PurposeVocabulary, load_purposes
from dases.errors import InvalidInput

from .conftest import SHARED

EDU = "https://w3id.org/dpv/sector/education#"
MONITORING = EDU + "StudentPerformanceMonitoring"
POLICY: dict[str, Any] = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": MONITORING},
                {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P90D"},
            ],
        }
    ]
}
CATEGORIES = ("learning_traces", "assessment_results")


@pytest.fixture(scope="module")
def vocabulary() -> PurposeVocabulary:
    return load_purposes(SHARED / "specs" / "dpv")


def terms_for(
    policy: dict[str, Any], vocabulary: PurposeVocabulary, **overrides: Any
) -> NoticeTerms:
    arguments: dict[str, Any] = {
        "provider": "Lycée Jean Moulin",
        "consumer": "EduPredict",
        "data_categories": CATEGORIES,
        "vocabulary": vocabulary,
    }
    arguments.update(overrides)
    return terms_from_policy(policy, **arguments)


def policy_with(*constraints: dict[str, Any]) -> dict[str, Any]:
    return {"permission": [{"action": "use", "constraint": list(constraints)}]}


def purpose_eq(value: Any) -> dict[str, Any]:
    return {"leftOperand": "purpose", "operator": "eq", "rightOperand": value}


def elapsed(value: str, operator: str = "lteq") -> dict[str, Any]:
    return {"leftOperand": "elapsedTime", "operator": operator, "rightOperand": value}


def refusal(policy: Any, vocabulary: PurposeVocabulary) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        terms_for(policy, vocabulary)
    assert [error.field for error in caught.value.errors] == ["policy"]
    assert caught.value.status == 422
    return caught.value


# --- reading the policy ---------------------------------------------------------------------------


def test_terms_are_read_from_the_policy(vocabulary: PurposeVocabulary) -> None:
    terms = terms_for(POLICY, vocabulary, offering="Suivi des progrès")
    assert terms == NoticeTerms(
        provider="Lycée Jean Moulin",
        consumer="EduPredict",
        purpose=MONITORING,
        data_categories=CATEGORIES,
        legal_basis="consent",
        duration_days=90,
        valid_until=None,
        offering="Suivi des progrès",
    )


@pytest.mark.parametrize(
    ("duration", "days"),
    [
        ("P90D", 90),
        ("P1Y", 365),
        ("P12M", 365),
        ("P6M", 180),
        ("P1Y6M", 545),
        ("P2W", 14),
        ("PT48H", 2),
        ("PT1H", 1),  # rounded up: the notice never promises less than the policy allows
        ("P1DT12H", 2),
    ],
)
def test_elapsed_time_becomes_a_number_of_days(
    vocabulary: PurposeVocabulary, duration: str, days: int
) -> None:
    policy = policy_with(purpose_eq(MONITORING), elapsed(duration))
    assert terms_for(policy, vocabulary).duration_days == days


def test_the_strictest_limits_win(vocabulary: PurposeVocabulary) -> None:
    policy = policy_with(
        purpose_eq(MONITORING),
        elapsed("P1Y"),
        elapsed("P30D", "lt"),
        {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2027-06-30T00:00:00Z"},
        {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-12-31T23:59:59Z"},
        {"leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2020-01-01T00:00:00Z"},
    )
    terms = terms_for(policy, vocabulary)
    assert terms.duration_days == 30
    assert terms.valid_until == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_policy_without_limits_gives_no_end(vocabulary: PurposeVocabulary) -> None:
    terms = terms_for(policy_with(purpose_eq(MONITORING)), vocabulary)
    assert terms.duration_days is None and terms.valid_until is None
    assert "until you withdraw your consent" in render_notice(terms, vocabulary, "en").text


def test_nested_and_constraints_are_read(vocabulary: PurposeVocabulary) -> None:
    policy = policy_with(
        {
            "and": [
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-12-31"},
                {"and": [purpose_eq({"@id": MONITORING}), elapsed("P6M")]},
            ]
        }
    )
    terms = terms_for(policy, vocabulary)
    assert terms.purpose == MONITORING
    assert terms.duration_days == 180
    assert terms.valid_until == datetime(2026, 12, 31, tzinfo=UTC)


def test_limits_inside_an_or_are_alternatives_and_not_read(vocabulary: PurposeVocabulary) -> None:
    policy = policy_with(
        purpose_eq(MONITORING),
        {"or": [elapsed("P7D"), {"leftOperand": "role", "operator": "eq", "rightOperand": "x"}]},
    )
    assert terms_for(policy, vocabulary).duration_days is None


def test_the_spellings_of_a_purpose_value_all_work(vocabulary: PurposeVocabulary) -> None:
    for value in (
        MONITORING,
        {"@id": MONITORING},
        "sector-education:StudentPerformanceMonitoring",
        "edu:StudentPerformanceMonitoring",
    ):
        assert terms_for(policy_with(purpose_eq(value)), vocabulary).purpose == MONITORING


def test_odrl_prefixed_keys_are_read(vocabulary: PurposeVocabulary) -> None:
    policy = {
        "@type": "Offer",
        "odrl:permission": [
            {
                "odrl:action": "odrl:use",
                "odrl:constraint": [
                    {
                        "odrl:leftOperand": "odrl:purpose",
                        "odrl:operator": "odrl:isA",
                        "odrl:rightOperand": {"@id": "dpv:AcademicResearch"},
                    }
                ],
            }
        ],
    }
    assert terms_for(policy, vocabulary).purpose == "https://w3id.org/dpv#AcademicResearch"


def test_a_list_of_purposes_gives_the_first(vocabulary: PurposeVocabulary) -> None:
    policy = policy_with(
        {
            "leftOperand": "purpose",
            "operator": "isAnyOf",
            "rightOperand": ["dpv:ScientificResearch", "dpv:AcademicResearch"],
        }
    )
    assert terms_for(policy, vocabulary).purpose == "https://w3id.org/dpv#ScientificResearch"


def test_the_first_permission_with_a_purpose_is_read(vocabulary: PurposeVocabulary) -> None:
    policy = {
        "permission": [
            {"action": "read", "constraint": [elapsed("P1D")]},
            {"action": "use", "constraint": [purpose_eq(MONITORING), elapsed("P10D")]},
        ],
        "prohibition": [{"action": "use", "constraint": [purpose_eq("dpv:Marketing")]}],
    }
    terms = terms_for(policy, vocabulary)
    assert (terms.purpose, terms.duration_days) == (MONITORING, 10)


@pytest.mark.parametrize(
    "policy",
    [
        policy_with(elapsed("P90D")),
        {"permission": [{"action": "use"}]},
        {"prohibition": [{"action": "use", "constraint": [purpose_eq(MONITORING)]}]},
        policy_with({"leftOperand": "purpose", "operator": "neq", "rightOperand": MONITORING}),
    ],
    ids=["limits-only", "no-constraint", "prohibition-only", "neq-only"],
)
def test_a_policy_without_purpose_is_refused_naming_policy(
    vocabulary: PurposeVocabulary, policy: dict[str, Any]
) -> None:
    error = refusal(policy, vocabulary)
    assert "names no purpose, so no consent can be asked for it" in error.detail


def test_a_policy_with_an_unknown_purpose_is_refused_naming_it(
    vocabulary: PurposeVocabulary,
) -> None:
    error = refusal(policy_with(elapsed("P1D"), purpose_eq("dpv:MindReading")), vocabulary)
    assert "'dpv:MindReading'" in error.detail
    assert "permission[0].constraint[1].rightOperand" in error.detail


def test_a_purpose_that_is_free_text_is_refused(vocabulary: PurposeVocabulary) -> None:
    error = refusal(policy_with(purpose_eq("research")), vocabulary)
    assert "'research'" in error.detail


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ("not a policy", "JSON object"),
        (policy_with({"leftOperand": "purpose", "operator": "like", "rightOperand": "x"}), "like"),
        (policy_with(purpose_eq(MONITORING), elapsed("ninety days")), "xsd:duration"),
        (policy_with(purpose_eq(MONITORING), elapsed("P0D")), "no time"),
        (
            policy_with(
                purpose_eq(MONITORING),
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "soon"},
            ),
            "xsd:dateTime",
        ),
    ],
    ids=["not-an-object", "unknown-operator", "bad-duration", "zero-duration", "bad-date"],
)
def test_an_unreadable_policy_is_refused_naming_policy(
    vocabulary: PurposeVocabulary, policy: Any, fragment: str
) -> None:
    assert fragment in refusal(policy, vocabulary).detail


# --- the terms ------------------------------------------------------------------------------------


def test_terms_are_put_in_canonical_form() -> None:
    terms = NoticeTerms(
        provider=" Lycée Jean Moulin ",
        consumer="EduPredict",
        purpose="edu:StudentPerformanceMonitoring",
        data_categories=("assessment_results", "learning_traces", "assessment_results"),
        valid_until=datetime(2026, 12, 31, 12, 0),
        offering="",
    )
    assert terms.provider == "Lycée Jean Moulin"
    assert terms.purpose == MONITORING
    assert terms.data_categories == CATEGORIES
    assert terms.valid_until == datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    assert terms.offering is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data_categories": ()}, "data_categories"),
        ({"data_categories": ("learning_traces", "shoe-size")}, "data_categories"),
        ({"data_categories": "skills_profile"}, "data_categories"),
        ({"legal_basis": "because"}, "legal_basis"),
        ({"duration_days": 0}, "duration_days"),
        ({"consumer": " "}, "consumer"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {
        "provider": "P",
        "consumer": "C",
        "purpose": MONITORING,
        "data_categories": CATEGORIES,
    }
    values.update(overrides)
    with pytest.raises(InvalidInput) as caught:
        NoticeTerms(**values)
    assert [error.field for error in caught.value.errors] == [field]


# --- the notice -----------------------------------------------------------------------------------


def test_the_french_notice_says_who_what_for_how_long_and_how_to_withdraw(
    vocabulary: PurposeVocabulary,
) -> None:
    notice = render_notice(terms_for(POLICY, vocabulary), vocabulary, "fr")
    text = notice.text
    assert notice.lang == "fr"
    assert notice.title == "Partage de vos données avec EduPredict"
    assert "Lycée Jean Moulin détient des données vous concernant." in text
    assert "avec EduPredict" in notice.paragraphs[1]
    assert "Vos données seront utilisées pour suivre votre progression" in text
    assert "décrocher" in text
    assert DATA_CATEGORIES["learning_traces"]["fr"] in text
    assert DATA_CATEGORIES["assessment_results"]["fr"] in text
    assert "90 jours" in text
    assert "retirer votre consentement à tout moment, en un clic" in text
    assert "n'annule pas ceux déjà faits" in text
    assert "reçu signé" in text
    assert "délégué à la protection des données de Lycée Jean Moulin" in text
    assert "CNIL" in text


def test_the_english_notice_says_the_same(vocabulary: PurposeVocabulary) -> None:
    notice = render_notice(terms_for(POLICY, vocabulary), vocabulary, "en")
    text = notice.text
    assert notice.title == "Sharing your data with EduPredict"
    assert "Lycée Jean Moulin holds data about you." in text
    assert "share some of it with EduPredict" in text
    assert f"Your data will be used {PURPOSES[MONITORING]['en']}." in text
    assert "your learning activity" in text and "your test and exam results" in text
    assert "90 days" in text
    assert "withdraw your consent at any moment, in one click, from your dashboard" in text
    assert "does not undo the transfers already made" in text
    assert "signed receipt" in text
    assert "data protection officer of Lycée Jean Moulin" in text
    assert "CNIL" in text


def test_paragraphs_come_in_a_fixed_order(vocabulary: PurposeVocabulary) -> None:
    notice = render_notice(terms_for(POLICY, vocabulary), vocabulary, "en")
    assert len(notice.paragraphs) == 10
    markers = ["holds", "share", "used", "What is shared", "agree", "90 days", "withdraw",
               "receipt", "data protection officer", "CNIL"]  # fmt: skip
    for paragraph, marker in zip(notice.paragraphs, markers, strict=True):
        assert marker in paragraph


def test_the_offering_is_named(vocabulary: PurposeVocabulary) -> None:
    terms = terms_for(POLICY, vocabulary, offering="Suivi des progrès")
    assert "“Suivi des progrès”" in render_notice(terms, vocabulary, "en").paragraphs[1]
    assert "«\u00a0Suivi des progrès\u00a0»" in render_notice(terms, vocabulary, "fr").paragraphs[1]


def test_an_end_date_is_written_in_each_language(vocabulary: PurposeVocabulary) -> None:
    policy = policy_with(
        purpose_eq(MONITORING),
        {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-12-31T23:59:59Z"},
    )
    terms = terms_for(policy, vocabulary)
    assert "stops on 31 December 2026 at the latest" in render_notice(terms, vocabulary, "en").text
    assert "au plus tard le 31 décembre 2026" in render_notice(terms, vocabulary, "fr").text


def test_dates_are_formatted_without_locale() -> None:
    assert format_date(datetime(2027, 1, 1), "fr") == "1er janvier 2027"
    assert format_date(datetime(2027, 1, 1), "en") == "1 January 2027"
    assert format_date(datetime(2026, 8, 15), "fr") == "15 août 2026"
    assert [len(MONTHS[lang]) for lang in ("en", "fr")] == [12, 12]


def test_an_end_date_is_shown_in_utc(vocabulary: PurposeVocabulary) -> None:
    paris = timezone(timedelta(hours=1))
    terms = NoticeTerms("P", "C", MONITORING, CATEGORIES,
                        valid_until=datetime(2027, 1, 1, 0, 30, tzinfo=paris))  # fmt: skip
    assert "31 December 2026" in render_notice(terms, vocabulary, "en").text


def test_one_day_is_singular(vocabulary: PurposeVocabulary) -> None:
    terms = terms_for(policy_with(purpose_eq(MONITORING), elapsed("P1D")), vocabulary)
    assert "for 1 day at most" in render_notice(terms, vocabulary, "en").text
    assert "pendant 1 jour au maximum" in render_notice(terms, vocabulary, "fr").text


def test_a_legal_basis_other_than_consent_offers_no_withdrawal(
    vocabulary: PurposeVocabulary,
) -> None:
    terms = terms_for(POLICY, vocabulary, legal_basis="legitimate-interest")
    text = render_notice(terms, vocabulary, "en").text
    assert LEGAL_BASES["legitimate-interest"]["en"] in text
    assert "withdraw" not in text and "receipt" not in text
    assert "CNIL" in text


def test_a_purpose_without_wording_still_gets_a_readable_notice(
    vocabulary: PurposeVocabulary,
) -> None:
    terms = terms_for(policy_with(purpose_eq("dpv:RecruitmentInterviewScheduling")), vocabulary)
    text = render_notice(terms, vocabulary, "fr").text
    assert "Vos données seront utilisées pour gérer des recrutements (Recruitment Interview" in text


def test_a_notice_in_another_language_is_refused(vocabulary: PurposeVocabulary) -> None:
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        render_notice(terms_for(POLICY, vocabulary), vocabulary, "de")


def test_a_notice_for_an_unknown_purpose_is_refused(vocabulary: PurposeVocabulary) -> None:
    terms = NoticeTerms("P", "C", "dpv:MindReading", CATEGORIES)
    with pytest.raises(InvalidInput, match="MindReading"):
        render_notice(terms, vocabulary, "en")


# --- the version ----------------------------------------------------------------------------------


def test_the_version_is_the_same_in_both_languages(vocabulary: PurposeVocabulary) -> None:
    terms = terms_for(POLICY, vocabulary)
    french, english = (render_notice(terms, vocabulary, lang) for lang in ("fr", "en"))
    assert re.fullmatch(r"v1-[0-9a-f]{16}", french.version)
    assert french.version == english.version == notice_version(terms)
    assert french.text != english.text


@pytest.mark.parametrize(
    "change",
    [
        {"consumer": "OtherCorp"},
        {"provider": "Collège Victor Hugo"},
        {"data_categories": ("learning_traces",)},
        {"legal_basis": "explicit-consent"},
        {"offering": "Autre offre"},
    ],
)
def test_the_version_changes_with_the_terms(
    vocabulary: PurposeVocabulary, change: dict[str, Any]
) -> None:
    assert notice_version(terms_for(POLICY, vocabulary)) != notice_version(
        terms_for(POLICY, vocabulary, **change)
    )


def test_the_version_changes_with_the_duration_and_the_purpose(
    vocabulary: PurposeVocabulary,
) -> None:
    base = notice_version(terms_for(POLICY, vocabulary))
    longer = policy_with(purpose_eq(MONITORING), elapsed("P91D"))
    other = policy_with(purpose_eq("dpv:AcademicResearch"), elapsed("P90D"))
    dated = policy_with(
        purpose_eq(MONITORING),
        elapsed("P90D"),
        {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-12-31"},
    )
    versions = {base} | {notice_version(terms_for(p, vocabulary)) for p in (longer, other, dated)}
    assert len(versions) == 4


def test_the_version_ignores_how_the_terms_were_spelled(vocabulary: PurposeVocabulary) -> None:
    one = NoticeTerms("P", "C", MONITORING, ("assessment_results", "learning_traces"))
    two = NoticeTerms("P", "C", "edu:StudentPerformanceMonitoring", CATEGORIES)
    assert notice_version(one) == notice_version(two)


def test_the_version_changes_with_the_template(
    vocabulary: PurposeVocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    terms = terms_for(POLICY, vocabulary)
    before = notice_version(terms)
    monkeypatch.setattr(notices, "NOTICE_TEMPLATE_VERSION", "2")
    assert notice_version(terms) != before


# Editing any wording a learner reads changes what they agree to, so it must come with a new
# NOTICE_TEMPLATE_VERSION (and so new notice versions). This pins the wording of version "1".
WORDING_FINGERPRINT = "07b29092ad9a6521"


def test_the_wording_cannot_change_without_a_new_template_version() -> None:
    wording = {
        "purposes": PURPOSES,
        "categories": DATA_CATEGORIES,
        "legal_bases": LEGAL_BASES,
        "templates": TEMPLATES,
        "months": MONTHS,
    }
    canonical = json.dumps(wording, sort_keys=True, ensure_ascii=False).encode()
    fingerprint = hashlib.sha256(canonical).hexdigest()[:16]
    assert (NOTICE_TEMPLATE_VERSION, fingerprint) == ("1", WORDING_FINGERPRINT), (
        "the notice wording changed: bump NOTICE_TEMPLATE_VERSION and update "
        "WORDING_FINGERPRINT in this test"
    )


# --- properties -----------------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(categories=("L", "N", "Zs"), exclude_characters="{}"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")


@settings(max_examples=60, deadline=None)
@given(
    provider=names,
    consumer=names,
    purpose=st.sampled_from(sorted(PURPOSES)),
    categories=st.lists(st.sampled_from(sorted(DATA_CATEGORIES)), min_size=1, unique=True),
    legal_basis=st.sampled_from(sorted(LEGAL_BASES)),
    days=st.none() | st.integers(min_value=1, max_value=3650),
)
def test_any_terms_give_a_complete_notice_with_one_version(
    vocabulary: PurposeVocabulary,
    provider: str,
    consumer: str,
    purpose: str,
    categories: list[str],
    legal_basis: str,
    days: int | None,
) -> None:
    terms = NoticeTerms(provider, consumer, purpose, tuple(categories), legal_basis, days)
    rendered: list[Notice] = [render_notice(terms, vocabulary, lang) for lang in ("en", "fr")]
    assert rendered[0].version == rendered[1].version
    for notice in rendered:
        assert terms.consumer in notice.title
        assert terms.provider in notice.paragraphs[0]
        assert all(paragraph.strip() for paragraph in notice.paragraphs)
        assert "{" not in notice.text
        if days is not None:
            assert str(days) in notice.text
