"""The quickstart's scenario, built from OULAD (Open University Learning Analytics Dataset).

Two EdTech providers share the university's modules: `edtech-a` runs modules AAA to CCC,
`edtech-b` modules DDD to GGG. A sample of the learners is drawn; each provider exports what it
holds about them (registrations with demographics, and assessment submissions), keyed by its own
learner id (OULAD's `id_student`), as the files its connector serves. Learners register at the
consent service, link their provider accounts and answer the providers' requests: most give
consent, some refuse, some give and later withdraw, in shares close to those reported for
learning-analytics consent in higher education.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dases.errors import InvalidInput

#: Which provider runs which modules.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "edtech-a": ("AAA", "BBB", "CCC"),
    "edtech-b": ("DDD", "EEE", "FFF", "GGG"),
}
PROVIDER_NAMES = {"edtech-a": "EdTech Alpha", "edtech-b": "EdTech Beta"}
LEARNER_FIELD = "id_student"
#: Shares of the learners' answers: give, refuse, give then withdraw.
GIVE, REFUSE, WITHDRAW = 0.80, 0.12, 0.08
_REGISTRATION_COLUMNS = (
    "code_module", "code_presentation", "id_student", "gender", "region", "highest_education", "imd_band", "age_band",
    "num_of_prev_attempts", "studied_credits", "disability", "final_result", "date_registration", "date_unregistration",
)  # fmt: skip


@dataclass(frozen=True)
class Learner:
    id_student: str
    providers: tuple[str, ...]
    answer: str  # "give", "refuse" or "withdraw"


@dataclass
class Scenario:
    learners: list[Learner]
    #: provider slug -> export name ("registrations", "submissions") -> CSV file.
    exports: dict[str, dict[str, Path]] = field(default_factory=dict)

    def answers(self) -> dict[str, int]:
        counts = {"give": 0, "refuse": 0, "withdraw": 0}
        for learner in self.learners:
            counts[learner.answer] += 1
        return counts


def _read(oulad: Path, name: str) -> pl.DataFrame:
    path = oulad / name
    if not path.is_file():
        raise InvalidInput(f"the OULAD table {path} is missing (see ../shared/data/oulad/README.md)")
    return pl.read_csv(path, null_values=["?"], infer_schema_length=0)


def build(oulad: Path, out: Path, learners: int, seed: int = 7) -> Scenario:
    """Sample `learners` students, write each provider's exports under `out/<provider>/`."""
    if learners < 50:
        raise InvalidInput("the scenario needs at least 50 learners to train and test anything")
    info = _read(oulad, "studentInfo.csv")
    registrations = _read(oulad, "studentRegistration.csv")
    submissions = _read(oulad, "studentAssessment.csv")
    assessments = _read(oulad, "assessments.csv").select("code_module", "code_presentation", "id_assessment")
    everyone = sorted(set(info["id_student"].to_list()), key=int)
    if learners > len(everyone):
        raise InvalidInput(f"OULAD has {len(everyone)} learners; asked for {learners}")
    rng = random.Random(seed)
    chosen = set(rng.sample(everyone, learners))
    joined = (
        info.filter(pl.col("id_student").is_in(chosen))
        .join(registrations, on=["code_module", "code_presentation", "id_student"], how="left")
        .select(_REGISTRATION_COLUMNS)
    )
    graded = submissions.filter(pl.col("id_student").is_in(chosen)).join(assessments, on="id_assessment", how="inner")
    exports: dict[str, dict[str, Path]] = {}
    held_by: dict[str, set[str]] = {}
    for provider, modules in PROVIDERS.items():
        folder = out / provider
        folder.mkdir(parents=True, exist_ok=True)
        mine = joined.filter(pl.col("code_module").is_in(modules))
        for student in mine["id_student"].to_list():
            held_by.setdefault(student, set()).add(provider)
        paths = {"registrations": folder / "registrations.csv", "submissions": folder / "submissions.csv"}
        mine.write_csv(paths["registrations"])
        graded.filter(pl.col("code_module").is_in(modules)).write_csv(paths["submissions"])
        exports[provider] = paths
    people = []
    for student in sorted(held_by, key=int):
        draw = rng.random()
        answer = "give" if draw < GIVE else "refuse" if draw < GIVE + REFUSE else "withdraw"
        people.append(Learner(student, tuple(sorted(held_by[student])), answer))
    return Scenario(people, exports)
