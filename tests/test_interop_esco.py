"""The ESCO loader reads the real v1.1.1 release as it is: labels, types, FR collections, relations.

Facts are checked against ../shared/data/esco, counted again here with the csv module where a
count is asserted, so the loader cannot agree with itself by construction.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from dases.errors import ConfigurationError
from dases.interop.esco import (
    Esco,
    Occupation,
    OccupationSkill,
    Skill,
    default_esco_dir,
    split_multi,
)

ESCO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "esco"
SKILL = "http://data.europa.eu/esco/skill/"
OCCUPATION = "http://data.europa.eu/esco/occupation/"
MUSICAL_STAFF = SKILL + "0005c151-5b5a-4a66-8aac-60e734beb1ab"
DATABASE_STRUCTURE = SKILL + "022dc430-872a-473a-9cf4-fed4895e58ad"
DATA_SCIENTIST = OCCUPATION + "258e46f9-0075-4a2e-adae-1ff0477e0f30"
#: The one occupation URI of occupationSkillRelations.csv missing from the occupation files.
ORPHAN = OCCUPATION + "a9e54177-a185-404d-b6e6-15663d31137e"


@pytest.fixture(scope="module")
def esco() -> Esco:
    return Esco.load(ESCO_DIR)


def _csv(name: str) -> list[dict[str, str]]:
    with (ESCO_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_default_directory_is_the_shared_release(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DASES_ESCO_DIR", raising=False)
    assert default_esco_dir().resolve() == ESCO_DIR.resolve()
    monkeypatch.setenv("DASES_ESCO_DIR", str(tmp_path))
    assert default_esco_dir() == tmp_path


def test_every_skill_and_occupation_is_loaded_with_its_type(esco: Esco) -> None:
    rows = _csv("skills_en.csv")
    assert len(esco.skills) == len(rows) == 13_896
    assert len(esco.occupations) == len(_csv("occupations_en.csv")) == 3_007
    types = Counter(skill.skill_type for skill in esco.skills.values())
    assert types == Counter(row["skillType"] for row in rows)
    assert types["knowledge"] == 3_059 and types["skill/competence"] == 10_831


def test_a_known_skill_has_its_labels_type_and_description(esco: Esco) -> None:
    skill = esco.skills[MUSICAL_STAFF]
    assert skill.skill_type == "skill/competence"
    assert skill.label() == "manage musical staff"
    assert "coordinate duties of musical staff" in skill.alt_labels["en"]
    assert "direct musical staff" in skill.alt_labels["en"]
    assert skill.description["en"].startswith("Assign and manage staff tasks")
    # No French label in this release for a skill outside the FR collections: English instead.
    assert "fr" not in skill.labels
    assert skill.label("fr") == "manage musical staff"


def test_french_labels_come_from_the_collections(esco: Esco) -> None:
    french = {uri for name in ESCO_DIR.glob("*SkillsCollection_fr.csv") for uri in (r["conceptUri"] for r in _csv(name.name))}
    assert len(french) == 2_218
    assert {uri for uri, skill in esco.skills.items() if "fr" in skill.labels} == french

    skill = esco.skills[DATABASE_STRUCTURE]
    assert skill.label("fr") == "définir la structure physique de la base de données"
    assert skill.label("en") == "define database physical structure"
    # The collections join alternative labels with " | ", not with newlines as skills_en.csv does.
    assert "construire l’architecture d’une base de données" in skill.alt_labels["fr"]
    assert len(skill.alt_labels["fr"]) == 6
    assert all(" | " not in alt for alt in skill.alt_labels["fr"])
    assert skill.description["fr"].startswith("Spécifier la configuration physique")


def test_an_occupation_needs_the_skills_the_relations_file_lists(esco: Esco) -> None:
    rows = [row for row in _csv("occupationSkillRelations.csv") if row["occupationUri"] == DATA_SCIENTIST]
    expected = Counter(row["relationType"] for row in rows)
    found = esco.occupation_skills(DATA_SCIENTIST)
    assert Counter(relation.relation for relation in found) == expected
    assert expected == {"essential": 54, "optional": 21}
    assert {relation.skill_uri for relation in found} == {row["skillUri"] for row in rows}
    assert all(relation.skill_uri in esco.skills for relation in found)

    occupation = esco.occupations[DATA_SCIENTIST]
    assert occupation.label() == "data scientist"
    assert occupation.label("fr") == "scientifique des données"
    assert occupation.code.startswith("2511.")


def test_relations_of_unknown_occupations_are_dropped(esco: Esco) -> None:
    assert esco.occupation_skills(ORPHAN) == []
    assert esco.occupation_skills(OCCUPATION + "not-an-occupation") == []
    total = sum(len(esco.occupation_skills(uri)) for uri in esco.occupations)
    assert total == 123_855 - 67


def test_occupations_are_found_by_label_in_either_language(esco: Esco) -> None:
    assert esco.find_occupations("Data Scientist")[0].uri == DATA_SCIENTIST
    assert esco.find_occupations("scientifique des donnees", lang="fr")[0].uri == DATA_SCIENTIST
    developers = esco.find_occupations("développeur", lang="fr", limit=3)
    assert len(developers) == 3
    assert all("développeu" in occupation.label("fr") for occupation in developers)
    assert esco.find_occupations("   ") == []
    assert esco.find_occupations("zzqx nothing like it") == []


def test_from_records_builds_a_small_classification() -> None:
    skill = Skill(SKILL + "x", "knowledge", {"en": "Python"}, {"en": ("python programming",)}, {})
    occupation = Occupation(OCCUPATION + "y", "2512.1", {"en": "developer"}, {}, {})
    relation = OccupationSkill(occupation.uri, skill.uri, "essential")
    esco = Esco.from_records([skill], [occupation], [relation])
    assert esco.skills[skill.uri] is skill
    assert esco.occupation_skills(occupation.uri) == [relation]
    with pytest.raises(TypeError):
        esco.skills[SKILL + "z"] = skill  # type: ignore[index]


def test_a_missing_directory_or_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Esco.load(tmp_path / "nowhere")
    (tmp_path / "skills_en.csv").write_text("conceptUri,skillType\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="occupations_en.csv, occupationSkillRelations.csv"):
        Esco.load(tmp_path)


def test_a_file_of_another_layout_is_named_with_its_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "skills_en.csv").write_text("conceptUri,skillType\nu,knowledge\n", encoding="utf-8")
    (tmp_path / "occupations_en.csv").write_text("conceptUri\n", encoding="utf-8")
    (tmp_path / "occupationSkillRelations.csv").write_text("occupationUri\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"skills_en.csv lacks the column\(s\) preferredLabel, altLabels"):
        Esco.load(tmp_path)


def test_multi_valued_cells_split_on_newlines_and_collection_bars() -> None:
    assert split_multi("a\r\nb\n\nb ") == ("a", "b")
    assert split_multi("a | b | a", " | ") == ("a", "b")
    assert split_multi("") == ()
