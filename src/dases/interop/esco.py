"""ESCO v1.1.1 in memory: skills, occupations and which skills an occupation needs.

The data space speaks of skills in ESCO's terms (a skill is its concept URI), so that a school's
"programmer en Python" and a job centre's "Python programming" meet on one identifier. This module
reads the official CSV release (``../shared/data/esco/``, see its README) once, with the standard
``csv`` module, into frozen records; nothing is cached on disk and nothing is written.

What the release holds shapes the model: English is complete; French labels exist only for the
2,218 skills of the six ``*SkillsCollection_fr.csv`` files (there is no ``skills_fr.csv``), so
``Skill.label("fr")`` falls back to English for the others. Relations come from the
language-independent ``occupationSkillRelations.csv``; its 67 rows that name an occupation missing
from the occupation files (an official v1.1.1 quirk) are dropped.
"""

from __future__ import annotations

import csv
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from dases.errors import ConfigurationError, InvalidInput

#: The files without which the classification is not usable.
SKILLS_FILE = "skills_en.csv"
OCCUPATIONS_FILE = "occupations_en.csv"
RELATIONS_FILE = "occupationSkillRelations.csv"
REQUIRED_FILES = (SKILLS_FILE, OCCUPATIONS_FILE, RELATIONS_FILE)
#: French files, read when present: ESCO v1.1.1 as shipped here has no skills_fr.csv.
FR_OCCUPATIONS_FILE = "occupations_fr.csv"
FR_SKILL_COLLECTIONS = (
    "digitalSkillsCollection_fr.csv",
    "greenSkillsCollection_fr.csv",
    "languageSkillsCollection_fr.csv",
    "transversalSkillsCollection_fr.csv",
    "researchSkillsCollection_fr.csv",
    "digCompSkillsCollection_fr.csv",
)

SKILL_TYPES = frozenset({"knowledge", "skill/competence"})
RELATION_TYPES = frozenset({"essential", "optional"})
DEFAULT_LANG = "en"
ESCO_DIR_ENV = "DASES_ESCO_DIR"


@dataclass(frozen=True, slots=True)
class Skill:
    """One ESCO skill or knowledge concept.

    `skill_type` is ``"knowledge"`` or ``"skill/competence"`` (ESCO leaves it empty on six
    concepts: the five DigComp areas and one more; they keep ``""``).
    """

    uri: str
    skill_type: str
    labels: dict[str, str]
    alt_labels: dict[str, tuple[str, ...]]
    description: dict[str, str]

    def label(self, lang: str = DEFAULT_LANG) -> str:
        """The preferred label in `lang`, or the English one where ESCO has none in `lang`."""
        return self.labels.get(lang) or self.labels.get(DEFAULT_LANG, "")


@dataclass(frozen=True, slots=True)
class Occupation:
    """One ESCO occupation; `code` is its ESCO code (e.g. ``2511.4``, under ISCO-08 2511)."""

    uri: str
    code: str
    labels: dict[str, str]
    alt_labels: dict[str, tuple[str, ...]]
    description: dict[str, str]

    def label(self, lang: str = DEFAULT_LANG) -> str:
        """The preferred label in `lang`, or the English one where ESCO has none in `lang`."""
        return self.labels.get(lang) or self.labels.get(DEFAULT_LANG, "")


@dataclass(frozen=True, slots=True)
class OccupationSkill:
    """An occupation needs a skill, as ``"essential"`` or ``"optional"``."""

    occupation_uri: str
    skill_uri: str
    relation: str


def default_esco_dir() -> Path:
    """Where the ESCO release is: ``$DASES_ESCO_DIR``, else ``../shared/data/esco`` from the repo root."""
    configured = os.environ.get(ESCO_DIR_ENV)
    if configured:
        return Path(configured)
    repo_root = Path(__file__).resolve().parents[3]
    return repo_root.parent / "shared" / "data" / "esco"


def fold(text: str) -> str:
    """Casefolded, accent-free, single-spaced: the form label searches compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split())


#: How the collection files (``*Collection_*.csv``) separate values, where the main files use newlines.
COLLECTION_SEPARATOR = " | "


def split_multi(cell: str | None, separator: str | None = None) -> tuple[str, ...]:
    """The values of a multi-valued ESCO cell, stripped, duplicates and empty ones dropped.

    The main files put one value a line inside the quoted cell; the skill collections join them
    with `COLLECTION_SEPARATOR` instead, so their readers pass it.
    """
    if not cell:
        return ()
    values = cell.splitlines()
    if separator:
        values = [part for value in values for part in value.split(separator)]
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


def _rows(path: Path, columns: Iterable[str]) -> Iterator[dict[str, str]]:
    """The rows of one ESCO CSV, after checking it has the columns this module reads."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise ConfigurationError(f"cannot read the ESCO file {path}: {error.strerror}") from error
    with handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or ())]
        if missing:
            raise ConfigurationError(
                f"the ESCO file {path} lacks the column(s) {', '.join(missing)}: is it ESCO v1.1.x?"
            )
        yield from reader


class Esco:
    """The classification, read-only: skills and occupations by URI, and their relations."""

    def __init__(
        self,
        skills: Mapping[str, Skill],
        occupations: Mapping[str, Occupation],
        relations: Iterable[OccupationSkill],
    ) -> None:
        self.skills: Mapping[str, Skill] = MappingProxyType(dict(skills))
        self.occupations: Mapping[str, Occupation] = MappingProxyType(dict(occupations))
        by_occupation: dict[str, list[OccupationSkill]] = {}
        for relation in relations:
            by_occupation.setdefault(relation.occupation_uri, []).append(relation)
        self._relations = {uri: tuple(found) for uri, found in by_occupation.items()}

    def __repr__(self) -> str:
        return f"<Esco {len(self.skills)} skills, {len(self.occupations)} occupations>"

    def occupation_skills(self, occupation_uri: str) -> list[OccupationSkill]:
        """The skills an occupation needs, essential and optional; ``[]`` for an unknown URI."""
        return list(self._relations.get(occupation_uri, ()))

    def find_occupations(self, text: str, lang: str = DEFAULT_LANG, limit: int = 10) -> list[Occupation]:
        """Occupations whose labels match `text`, best first.

        A plain label search, accent- and case-blind, for pickers and the command line (the
        skills mapper does the fuzzy and semantic matching): an exact preferred label first, then
        an exact alternative label, then labels containing the text, then labels containing
        every word of it; shorter labels first within a rank.
        """
        if limit <= 0:
            raise InvalidInput("limit must be a positive number of occupations")
        query = fold(text)
        if not query:
            return []
        words = query.split()
        ranked: list[tuple[int, int, str, Occupation]] = []
        for occupation in self.occupations.values():
            best = _occupation_rank(occupation, lang, query, words)
            if best is not None:
                rank, length = best
                ranked.append((rank, length, occupation.uri, occupation))
        ranked.sort(key=lambda item: item[:3])
        return [item[3] for item in ranked[:limit]]

    @classmethod
    def from_records(
        cls,
        skills: Iterable[Skill],
        occupations: Iterable[Occupation] = (),
        relations: Iterable[OccupationSkill] = (),
    ) -> Esco:
        """A classification from records built in code (tests, subsets)."""
        return cls({skill.uri: skill for skill in skills}, {o.uri: o for o in occupations}, relations)

    @classmethod
    def load(cls, directory: Path) -> Esco:
        """Read the ESCO v1.1.x CSV release in `directory` (EN, the FR files present, relations)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigurationError(
                f"the ESCO directory {directory} does not exist; set {ESCO_DIR_ENV} to the folder of "
                "the ESCO v1.1.1 CSV release"
            )
        missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
        if missing:
            raise ConfigurationError(f"the ESCO directory {directory} lacks {', '.join(missing)}")
        skills = _read_skills(directory)
        occupations = _read_occupations(directory)
        relations = _read_relations(directory / RELATIONS_FILE, skills.keys(), occupations.keys())
        return cls(skills, occupations, relations)


def _occupation_rank(occupation: Occupation, lang: str, query: str, words: list[str]) -> tuple[int, int] | None:
    preferred = fold(occupation.label(lang))
    alternatives = [fold(alt) for alt in occupation.alt_labels.get(lang, ())]
    if query == preferred or query in preferred.split("/"):
        return 0, len(preferred)
    if query in alternatives:
        return 1, len(preferred)
    if query in preferred:
        return 2, len(preferred)
    if any(query in alt for alt in alternatives):
        return 3, len(preferred)
    for label in [preferred, *alternatives]:
        label_words = set(label.replace("/", " ").split())
        if all(word in label_words for word in words):
            return 4, len(preferred)
    return None


def _read_skills(directory: Path) -> dict[str, Skill]:
    columns = ("conceptUri", "skillType", "preferredLabel", "altLabels", "description")
    french = _read_french_skill_labels(directory)
    skills: dict[str, Skill] = {}
    for row in _rows(directory / SKILLS_FILE, columns):
        uri = row["conceptUri"]
        labels = {"en": row["preferredLabel"].strip()}
        alt_labels = {"en": split_multi(row["altLabels"])}
        description = {"en": row["description"].strip()} if row["description"].strip() else {}
        if uri in french:
            fr_label, fr_alts, fr_description = french[uri]
            labels["fr"] = fr_label
            alt_labels["fr"] = fr_alts
            if fr_description:
                description["fr"] = fr_description
        skills[uri] = Skill(uri, row["skillType"].strip(), labels, alt_labels, description)
    return skills


def _read_french_skill_labels(directory: Path) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """FR label, alternatives and description of the skills in the FR collections present."""
    columns = ("conceptUri", "preferredLabel", "altLabels", "description")
    french: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for name in FR_SKILL_COLLECTIONS:
        path = directory / name
        if not path.is_file():
            continue
        for row in _rows(path, columns):
            label = row["preferredLabel"].strip()
            if label:
                french.setdefault(row["conceptUri"], (label, split_multi(row["altLabels"], COLLECTION_SEPARATOR), row["description"].strip()))
    return french


def _read_occupations(directory: Path) -> dict[str, Occupation]:
    columns = ("conceptUri", "preferredLabel", "altLabels", "description", "code")
    occupations: dict[str, Occupation] = {}
    for row in _rows(directory / OCCUPATIONS_FILE, columns):
        description = {"en": row["description"].strip()} if row["description"].strip() else {}
        occupations[row["conceptUri"]] = Occupation(
            row["conceptUri"],
            row["code"].strip(),
            {"en": row["preferredLabel"].strip()},
            {"en": split_multi(row["altLabels"])},
            description,
        )
    fr_path = directory / FR_OCCUPATIONS_FILE
    if fr_path.is_file():
        for row in _rows(fr_path, columns):
            occupation = occupations.get(row["conceptUri"])
            if occupation is None or not row["preferredLabel"].strip():
                continue
            occupation.labels["fr"] = row["preferredLabel"].strip()
            occupation.alt_labels["fr"] = split_multi(row["altLabels"])
            if row["description"].strip():
                occupation.description["fr"] = row["description"].strip()
    return occupations


def _read_relations(path: Path, skill_uris: Iterable[str], occupation_uris: Iterable[str]) -> list[OccupationSkill]:
    """The relations whose two ends are known; ESCO v1.1.1 has 67 rows naming a missing occupation."""
    skills, occupations = set(skill_uris), set(occupation_uris)
    relations: list[OccupationSkill] = []
    for record, row in enumerate(_rows(path, ("occupationUri", "relationType", "skillUri")), start=1):
        relation = row["relationType"].strip()
        if relation not in RELATION_TYPES:
            raise ConfigurationError(f"{path}, record {record}: relationType {relation!r} is not essential or optional")
        if row["occupationUri"] in occupations and row["skillUri"] in skills:
            relations.append(OccupationSkill(row["occupationUri"], row["skillUri"], relation))
    return relations
