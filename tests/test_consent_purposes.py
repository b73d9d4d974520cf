"""The purpose vocabulary: DPV and its education sector, read from the published Turtle files,
with the plain-language wording a learner sees for each purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import RDF

from dases.consent.plain_language import (
    DATA_CATEGORIES,
    LEGAL_BASES,
    PURPOSES,
    UnsupportedLanguage,
    plain_purpose,
)
from dases.consent.purposes import PurposeVocabulary, expand, load_purposes
from dases.errors import ConfigurationError, InvalidInput

from .conftest import SHARED

DPV_DIR = SHARED / "specs" / "dpv"
DPV = "https://w3id.org/dpv#"
EDU = "https://w3id.org/dpv/sector/education#"


@pytest.fixture(scope="module")
def vocabulary() -> PurposeVocabulary:
    return load_purposes(DPV_DIR)


def education_purposes_in_file() -> set[str]:
    graph = rdflib.Graph().parse(DPV_DIR / "sector-education-purposes.ttl", format="turtle")
    return {str(node) for node in graph.subjects(RDF.type, rdflib.URIRef(DPV + "Purpose"))}


def test_the_vocabulary_holds_all_49_education_purposes_and_the_dpv_ones(
    vocabulary: PurposeVocabulary,
) -> None:
    education = {purpose.iri for purpose in vocabulary if purpose.iri.startswith(EDU)}
    assert len(education) == 49
    assert education == education_purposes_in_file()
    for name in ("Purpose", "AcademicResearch", "ScientificResearch", "ServiceProvision"):
        assert DPV + name in vocabulary
    assert len(vocabulary) == len(list(vocabulary)) > 150


def test_concepts_that_are_not_purposes_stay_out(vocabulary: PurposeVocabulary) -> None:
    for name in ("Sector", "hasPurpose", "hasSector", "LegalObligation"):
        assert DPV + name not in vocabulary


def test_a_purpose_carries_its_english_label_definition_and_broader_terms(
    vocabulary: PurposeVocabulary,
) -> None:
    purpose = vocabulary.resolve("sector-education:ResearchManagement")
    assert purpose.label == "Research Management"
    assert purpose.definition.startswith("Purposes associated with research activities")
    assert purpose.broader == (DPV + "AcademicResearch", EDU + "EducationManagement")
    assert vocabulary.resolve("dpv:Purpose").broader == ()


@pytest.mark.parametrize(
    "term",
    [
        EDU + "StudentPerformanceMonitoring",
        "sector-education:StudentPerformanceMonitoring",
        "edu:StudentPerformanceMonitoring",
        "  edu:StudentPerformanceMonitoring ",
    ],
)
def test_full_and_prefixed_forms_name_the_same_purpose(
    vocabulary: PurposeVocabulary, term: str
) -> None:
    assert vocabulary.normalise(term) == EDU + "StudentPerformanceMonitoring"
    assert term in vocabulary
    assert vocabulary.get(term) == vocabulary.resolve(term)


def test_dpv_and_education_service_provision_are_different_purposes(
    vocabulary: PurposeVocabulary,
) -> None:
    assert vocabulary.normalise("dpv:ServiceProvision") == DPV + "ServiceProvision"
    assert vocabulary.normalise("edu:ServiceProvision") == EDU + "ServiceProvision"
    assert vocabulary.is_a("edu:ServiceProvision", "dpv:ServiceProvision")


@pytest.mark.parametrize(
    "term", ["dpv:Teleportation", "edu:AcademicResearch", "AcademicResearch", "foo:Bar", ""]
)
def test_an_unknown_purpose_is_refused_naming_it(vocabulary: PurposeVocabulary, term: str) -> None:
    assert term not in vocabulary
    assert vocabulary.get(term) is None
    with pytest.raises(InvalidInput) as caught:
        vocabulary.resolve(term)
    assert repr(term) in caught.value.detail
    assert caught.value.errors[0].field == "purpose"
    assert caught.value.status == 422


def test_is_a_follows_broader_transitively(vocabulary: PurposeVocabulary) -> None:
    # ResearchDataManagement -> ResearchManagement -> AcademicResearch -> ResearchAndDevelopment
    assert vocabulary.is_a("edu:ResearchDataManagement", "dpv:AcademicResearch")
    assert vocabulary.is_a("edu:ResearchDataManagement", "dpv:ResearchAndDevelopment")
    assert vocabulary.is_a("edu:StudentOnlineProctoring", "dpv:FraudPreventionAndDetection")
    assert vocabulary.is_a("dpv:AcademicResearch", "dpv:AcademicResearch")
    assert not vocabulary.is_a("dpv:AcademicResearch", "edu:ResearchDataManagement")
    assert not vocabulary.is_a("edu:StudentPerformanceMonitoring", "dpv:ResearchAndDevelopment")


def test_every_purpose_descends_from_dpv_purpose(vocabulary: PurposeVocabulary) -> None:
    for purpose in vocabulary:
        assert vocabulary.is_a(purpose.iri, "dpv:Purpose"), purpose.iri


def test_ancestors_come_nearest_first(vocabulary: PurposeVocabulary) -> None:
    ancestors = vocabulary.ancestors("edu:StudentOnlineProctoring")
    assert ancestors[0] == EDU + "StudentProctoring"
    assert ancestors.index(EDU + "StudentCheatingAssessment") < ancestors.index(DPV + "Purpose")
    assert ancestors[-1] == DPV + "Purpose"


def test_is_a_refuses_unknown_terms(vocabulary: PurposeVocabulary) -> None:
    with pytest.raises(InvalidInput, match="dpv:Nothing"):
        vocabulary.is_a("dpv:Nothing", "dpv:Purpose")


def test_expand_is_purely_syntactic() -> None:
    assert expand("edu:Anything") == EDU + "Anything"
    assert expand("dpv:Anything") == DPV + "Anything"
    assert expand("https://example.org/x") == "https://example.org/x"
    assert expand("other:Thing") == "other:Thing"


def test_a_missing_vocabulary_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_purposes(tmp_path)
    assert str(tmp_path) in caught.value.detail
    assert "dpv-purposes.ttl" in caught.value.detail


def test_an_unreadable_vocabulary_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "dpv-purposes.ttl").write_text("this is not turtle <<<", encoding="utf-8")
    (tmp_path / "sector-education-purposes.ttl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="dpv-purposes.ttl"):
        load_purposes(tmp_path)


def test_the_parse_is_cached_per_directory(vocabulary: PurposeVocabulary) -> None:
    assert load_purposes(DPV_DIR) is vocabulary
    assert load_purposes(DPV_DIR / ".." / "dpv") is vocabulary


# --- plain language ------------------------------------------------------------------------------


def test_every_plain_language_purpose_is_a_real_purpose(vocabulary: PurposeVocabulary) -> None:
    unknown = [iri for iri in PURPOSES if iri not in vocabulary]
    assert unknown == []


def test_every_education_purpose_has_wording_in_both_languages() -> None:
    for iri in education_purposes_in_file():
        assert iri in PURPOSES, iri
        assert PURPOSES[iri]["en"].startswith(("to ", "for ")), iri
        assert PURPOSES[iri]["fr"].startswith(("pour ", "dans ")), iri


def test_the_common_dpv_purposes_have_wording(vocabulary: PurposeVocabulary) -> None:
    dpv = [iri for iri in PURPOSES if iri.startswith(DPV)]
    assert len(dpv) >= 30
    for name in (
        "Purpose",
        "ResearchAndDevelopment",
        "AcademicResearch",
        "ScientificResearch",
        "CommercialResearch",
        "NonCommercialResearch",
        "ServiceProvision",
        "ServicePersonalisation",
        "PersonalisedBenefits",
    ):
        assert DPV + name in PURPOSES


def test_wording_is_short_and_free_of_dpv_jargon() -> None:
    for iri, wording in PURPOSES.items():
        for lang in ("en", "fr"):
            text = wording[lang]  # type: ignore[literal-required]
            assert text and len(text) <= 100, (iri, lang)
            assert "Purposes associated" not in text and "data subject" not in text


def test_plain_purpose_uses_the_table(vocabulary: PurposeVocabulary) -> None:
    iri = EDU + "StudentPerformanceMonitoring"
    assert "drop out" in plain_purpose(vocabulary, iri, "en")
    assert "décrocher" in plain_purpose(vocabulary, "edu:StudentPerformanceMonitoring", "fr")


def test_a_purpose_without_wording_borrows_its_nearest_ancestor_and_names_itself(
    vocabulary: PurposeVocabulary,
) -> None:
    iri = DPV + "RecruitmentInterviewScheduling"  # -> RecruitmentInterviewManagement -> ...
    assert iri not in PURPOSES
    assert plain_purpose(vocabulary, iri, "en") == (
        "to manage recruitment for jobs (Recruitment Interview Scheduling)"
    )
    assert plain_purpose(vocabulary, iri, "fr") == (
        "pour gérer des recrutements (Recruitment Interview Scheduling)"
    )


def test_every_purpose_gets_a_non_empty_phrase(vocabulary: PurposeVocabulary) -> None:
    for purpose in vocabulary:
        for lang in ("en", "fr"):
            assert plain_purpose(vocabulary, purpose.iri, lang).strip()


@pytest.mark.parametrize("lang", ["de", "EN", "", "fr-FR"])
def test_plain_purpose_refuses_other_languages(vocabulary: PurposeVocabulary, lang: str) -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        plain_purpose(vocabulary, "dpv:AcademicResearch", lang)
    with pytest.raises(UnsupportedLanguage) as caught:
        plain_purpose(vocabulary, "dpv:AcademicResearch", lang)
    assert caught.value.errors[0].field == "lang"


def test_data_categories_are_the_api_ids_with_both_languages() -> None:
    from dases.catalog.models import DataCategory

    personal = {c.value for c in DataCategory} - {"job_offers", "training_offers"}
    assert set(DATA_CATEGORIES) == personal | {"identity", "demographics"}
    for key, category in DATA_CATEGORIES.items():
        assert category["en"] and category["fr"], key
        iri = category["iri"]
        assert iri is None or iri.startswith("https://w3id.org/dpv/pd#"), key


def test_legal_bases_name_dpv_or_gdpr_terms_with_both_languages() -> None:
    assert set(LEGAL_BASES) == {
        "consent",
        "explicit-consent",
        "public-task",
        "legitimate-interest",
        "contract",
    }
    assert LEGAL_BASES["consent"]["iri"] == DPV + "Consent"
    assert LEGAL_BASES["explicit-consent"]["iri"] == DPV + "ExplicitlyExpressedConsent"
    assert LEGAL_BASES["public-task"]["iri"] == "https://w3id.org/dpv/legal/eu/gdpr#A6-1-e"
    for key, basis in LEGAL_BASES.items():
        assert basis["en"] and basis["fr"], key
