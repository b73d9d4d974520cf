"""Benchmark of catalog search.

Run with `python bench/catalog_search.py` (SQLite; `--database-url postgresql+psycopg://...`
for a PostgreSQL server, where each size gets a fresh schema). For each catalog size (default
10,000 and 100,000 offerings) it loads generated offerings through the catalog service (bulk
publishing: validation, full-text index and facet counts, as in production), then runs a mix of
queries a portal would send, through `dases.catalog.service.search` on one session (no HTTP), and
prints the median and the 95th percentile of all of them, each query's median, and the growth
from the smallest to the largest size.

Targets: median < 50 ms at 100,000 offerings on SQLite; growth from 10k to 100k well under 10x.

The offerings are generated from ESCO skill labels (../shared/data/esco/skills_en.csv, when
present) so that words follow the uneven frequencies of a real vocabulary: 40 providers
(schools, universities, EdTechs, employment services), each with its own categories, kinds and
share of personal data; titles, descriptions and keywords mix domain words and skills.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from auth import fresh_database

from dases.catalog import service
from dases.catalog.index import SearchQuery
from dases.catalog.models import DataCategory, OfferingIn, OfferingKind, ServiceCategory
from dases.db import Database
from dases.identity import service as identity
from dases.identity.keys import KeySealer

ESCO_SKILLS = Path(__file__).resolve().parents[2] / "shared" / "data" / "esco" / "skills_en.csv"
BASE_URL = "https://operator.example.org"
BATCH = 2000
POLICY = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "education"]}]}]}

NOUNS = {
    DataCategory.LEARNING_TRACES: ["learning traces", "xAPI statements", "LMS activity logs", "MOOC clickstream"],
    DataCategory.SKILLS_PROFILE: ["skills profiles", "competence portfolios", "skills passports"],
    DataCategory.HARD_SKILLS: ["technical skills assessments", "hard skills records"],
    DataCategory.SOFT_SKILLS: ["soft skills questionnaires", "transversal skills evaluations"],
    DataCategory.LEARNING_EXPERIENCE: ["course enrolments", "learning experience records"],
    DataCategory.PROFESSIONAL_EXPERIENCE: ["career paths", "work experience records"],
    DataCategory.JOB_OFFERS: ["job offers", "vacancies", "job postings"],
    DataCategory.TRAINING_OFFERS: ["training offers", "course catalogue", "vocational trainings"],
    DataCategory.ASSESSMENT_RESULTS: ["exam results", "quiz scores", "assessment outcomes"],
    DataCategory.CREDENTIALS: ["open badges", "diplomas", "micro-credentials"],
}
SERVICE_NOUNS = {
    ServiceCategory.ADAPTIVE_LEARNING: "adaptive learning engine",
    ServiceCategory.LEARNING_ANALYTICS: "learning analytics dashboard",
    ServiceCategory.SKILLS_MATCHING: "skills matching API",
    ServiceCategory.TRAINING_MATCHING: "training recommendation service",
    ServiceCategory.JOB_MATCHING: "job matching service",
    ServiceCategory.CAREER_GUIDANCE: "career guidance assistant",
    ServiceCategory.DROPOUT_DETECTION: "dropout early warning model",
    ServiceCategory.SKILLS_ASSESSMENT: "skills assessment tool",
}
PROVIDER_KINDS = {
    "school": ([DataCategory.LEARNING_TRACES, DataCategory.ASSESSMENT_RESULTS, DataCategory.SOFT_SKILLS, DataCategory.CREDENTIALS], [ServiceCategory.LEARNING_ANALYTICS]),
    "university": ([DataCategory.LEARNING_TRACES, DataCategory.LEARNING_EXPERIENCE, DataCategory.CREDENTIALS, DataCategory.HARD_SKILLS, DataCategory.TRAINING_OFFERS], [ServiceCategory.DROPOUT_DETECTION, ServiceCategory.LEARNING_ANALYTICS]),
    "edtech": ([DataCategory.LEARNING_TRACES, DataCategory.SKILLS_PROFILE, DataCategory.HARD_SKILLS, DataCategory.SOFT_SKILLS], [ServiceCategory.ADAPTIVE_LEARNING, ServiceCategory.SKILLS_ASSESSMENT, ServiceCategory.LEARNING_ANALYTICS]),
    "employment": ([DataCategory.JOB_OFFERS, DataCategory.PROFESSIONAL_EXPERIENCE, DataCategory.SKILLS_PROFILE, DataCategory.TRAINING_OFFERS], [ServiceCategory.JOB_MATCHING, ServiceCategory.SKILLS_MATCHING, ServiceCategory.CAREER_GUIDANCE, ServiceCategory.TRAINING_MATCHING]),
}
PERSONAL = {DataCategory.LEARNING_TRACES, DataCategory.SKILLS_PROFILE, DataCategory.SOFT_SKILLS, DataCategory.PROFESSIONAL_EXPERIENCE, DataCategory.ASSESSMENT_RESULTS, DataCategory.CREDENTIALS, DataCategory.LEARNING_EXPERIENCE}
FORMAT_WORDS = ["xAPI", "CSV", "JSON", "JSON-LD", "LTI", "Open Badges", "ESCO", "Europass", "SCORM", "Caliper", "pseudonymised", "aggregated", "anonymised", "real-time", "monthly export"]
REGIONS = ["Occitanie", "Bretagne", "Île-de-France", "Normandie", "Grand Est", "Bavaria", "Flanders", "Catalonia", "Lombardy", "Wallonia"]
FALLBACK_SKILLS = [
    "python programming", "data analysis", "teamwork", "customer service", "project management", "welding", "nursing care",
    "accounting", "foreign languages", "communication", "mathematics teaching", "machine learning", "carpentry", "marketing",
]


def skill_labels() -> list[str]:
    if not ESCO_SKILLS.is_file():
        return FALLBACK_SKILLS
    with ESCO_SKILLS.open(newline="", encoding="utf-8") as handle:
        return [row["preferredLabel"] for row in csv.DictReader(handle) if row.get("preferredLabel")]


@dataclass(frozen=True)
class Provider:
    slug: str
    kind: str
    share_of_services: float


def providers(count: int, rng: random.Random) -> list[Provider]:
    kinds = list(PROVIDER_KINDS)
    return [Provider(f"{kinds[i % len(kinds)]}-{i:02d}", kinds[i % len(kinds)], rng.choice([0.0, 0.05, 0.15, 0.3])) for i in range(count)]


def generate(n: int, participants: list[Provider], skills: list[str], rng: random.Random) -> Iterator[tuple[str, OfferingIn]]:
    """n offerings, spread over the providers unevenly (a few big publishers, many small ones)."""
    weights = [1 / (rank + 1) for rank in range(len(participants))]
    # Skills are drawn with a long-tailed popularity, as topics are in a real catalog.
    popular = rng.sample(skills, min(len(skills), 4000))
    skill_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(popular))]
    for _ in range(n):
        provider = rng.choices(participants, weights)[0]
        data_home, service_home = PROVIDER_KINDS[provider.kind]
        is_service = rng.random() < provider.share_of_services
        topic = rng.choices(popular, skill_weights)[0]
        data_categories = rng.sample(data_home, rng.randint(1, min(3, len(data_home))))
        service_categories: list[ServiceCategory] = []
        if is_service:
            service_categories = rng.sample(service_home, rng.randint(1, min(2, len(service_home))))
            kind = rng.choice([OfferingKind.DATA_SERVICE, OfferingKind.SOFTWARE_SERVICE])
            title = f"{SERVICE_NOUNS[service_categories[0]].capitalize()} for {topic}"
        else:
            kind = OfferingKind.DATASET
            noun = rng.choice(NOUNS[data_categories[0]])
            title = f"{noun.capitalize()}: {topic}, {rng.choice(REGIONS)} {rng.randint(2015, 2026)}"
        extra = rng.choices(popular, skill_weights, k=3)
        description = (
            f"{' and '.join(rng.choice(NOUNS[c]) for c in data_categories).capitalize()} from a {provider.kind} of {rng.choice(REGIONS)}, "
            f"covering {topic}, {extra[0]} and {extra[1]}. Updated {rng.choice(['daily', 'weekly', 'monthly', 'yearly'])}; "
            f"{rng.choice(['learners', 'students', 'job seekers', 'employees', 'apprentices'])} consented to the sharing for {rng.choice(['research', 'education', 'guidance'])}. "
            f"Related skills: {extra[2]}."
        )
        keywords = list(dict.fromkeys([*rng.sample(FORMAT_WORDS, rng.randint(1, 3)), topic[:64], *(s[:64] for s in rng.sample(extra, 1))]))
        yield provider.slug, OfferingIn.model_validate({
            "kind": kind,
            "title": title[:300],
            "description": description,
            "keywords": keywords,
            "data_categories": data_categories,
            "service_categories": service_categories,
            "contains_pii": any(c in PERSONAL for c in data_categories) and rng.random() < 0.8,
            "policy": POLICY,
            "distributions": [{"format": "HttpData-PULL", "media_type": rng.choice(["application/json", "text/csv", "application/ld+json"])}],
            "endpoint_url": "https://api.example.org/service" if is_service else None,
        })


def load(db: Database, n: int, seed: int = 1) -> list[Provider]:
    """Create the providers and publish n generated offerings, BATCH per transaction."""
    rng = random.Random(seed)
    participants = providers(40, rng)
    sealer = KeySealer(b"catalog-bench-node-secret-012345")
    with db.transaction() as session:
        for provider in participants:
            identity.create_participant(session, sealer, BASE_URL, provider.slug, provider.slug.replace("-", " ").title())
    pending: dict[str, list[OfferingIn]] = {}
    for count, (slug, draft) in enumerate(generate(n, participants, skill_labels(), rng), start=1):
        pending.setdefault(slug, []).append(draft)
        if count % BATCH == 0 or count == n:
            with db.transaction() as session:
                for owner, drafts in pending.items():
                    service.publish_many(session, owner, drafts)
            pending = {}
    with db.engine.begin() as connection:  # planner statistics, as a node's routine maintenance keeps them
        connection.execute(sa.text("ANALYZE"))
    return participants


def query_mix(participants: list[Provider]) -> list[tuple[str, SearchQuery]]:
    big, small = participants[0].slug, participants[17].slug
    return [
        ("browse", SearchQuery()),
        ("browse, page 6", SearchQuery(offset=100)),
        ("q=learning traces", SearchQuery(text="learning traces")),
        ("q=python", SearchQuery(text="python")),
        ("q=data", SearchQuery(text="data")),
        ("q=welding", SearchQuery(text="welding")),
        ("q=skills matching", SearchQuery(text="skills matching")),
        ("q=dropout", SearchQuery(text="dropout")),
        ("q=manage staff", SearchQuery(text="manage staff")),
        ("q=learn, page 5", SearchQuery(text="learn", offset=80)),
        ("q=customer + pii=false", SearchQuery(text="customer", contains_pii=False)),
        ("q=training + category", SearchQuery(text="training", data_category=DataCategory.TRAINING_OFFERS)),
        ("category=skills_profile", SearchQuery(data_category=DataCategory.SKILLS_PROFILE)),
        ("category=learning_traces + pii=false", SearchQuery(data_category=DataCategory.LEARNING_TRACES, contains_pii=False)),
        ("service=skills_matching + kind", SearchQuery(service_category=ServiceCategory.SKILLS_MATCHING, kind=OfferingKind.DATA_SERVICE)),
        ("provider (largest)", SearchQuery(provider=big)),
        ("provider (small) + category", SearchQuery(provider=small, data_category=DataCategory.LEARNING_TRACES)),
        ("keyword=xapi", SearchQuery(keyword="xAPI")),
        ("keyword=open badges + pii", SearchQuery(keyword="Open Badges", contains_pii=True)),
    ]


@dataclass(frozen=True)
class Result:
    n: int
    median_ms: float
    p95_ms: float
    per_query: dict[str, float]
    load_seconds: float


def measure(database_url: str, n: int, repeats: int = 15) -> Result:
    db = Database(database_url)
    try:
        db.migrate()
        started = time.perf_counter()
        participants = load(db, n)
        load_seconds = time.perf_counter() - started
        mix = query_mix(participants)
        timings: dict[str, list[float]] = {name: [] for name, _ in mix}
        with db.transaction() as session:
            for _name, query in mix:  # warm-up: caches and prepared statements, as in a serving node
                service.search(session, query)
            for _ in range(repeats):
                for name, query in mix:
                    begin = time.perf_counter()
                    service.search(session, query)
                    timings[name].append((time.perf_counter() - begin) * 1000)
        every = sorted(t for values in timings.values() for t in values)
        return Result(
            n=n,
            median_ms=statistics.median(every),
            p95_ms=every[int(0.95 * (len(every) - 1))],
            per_query={name: statistics.median(values) for name, values in timings.items()},
            load_seconds=load_seconds,
        )
    finally:
        db.dispose()


def bench_search(database_url: str, n: int) -> float:
    """Load n generated offerings into the (empty) database and return the median search time in ms."""
    return measure(database_url, n).median_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", help="a PostgreSQL server URL; SQLite files in a temporary directory when left out")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for n in args.sizes:
            with fresh_database(args.database_url, Path(directory), f"catalog-{n}") as url:
                result = measure(url, n, args.repeats)
            results.append(result)
            print(f"{n:>8,} offerings: median {result.median_ms:6.2f} ms, p95 {result.p95_ms:6.2f} ms (loaded in {result.load_seconds:.0f} s)")
            for name, median in result.per_query.items():
                print(f"      {name:<38} {median:7.2f} ms")
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = last.median_ms / first.median_ms
        print(f"growth of the median from {first.n:,} to {last.n:,} offerings: {growth:.2f}x (p95: {last.p95_ms / first.p95_ms:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
