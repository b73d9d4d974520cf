"""Catalog search: full text (all words, prefixes, title first), filters on every facet, facet
counts that always equal a count of the matching offerings, pagination, retired offerings gone
at once, relevance ranking bounded to the newest matches of broad queries, sampled facet counts
for huge result sets, and query text that never reaches the index as syntax."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dases.app import create_app
from dases.catalog import index, service
from dases.catalog.index import SearchQuery
from dases.catalog.models import DataCategory, Offering, OfferingIn, OfferingKind, ServiceCategory
from dases.db import Database
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.settings import Settings

from .conftest import ADMIN_TOKEN, backend_name

SEALER = KeySealer(b"catalog-search-test-secret-01234")
BASE_URL = "http://127.0.0.1:8000"
POLICY = {"permission": [{"action": "use"}]}


def draft(title: str, description: str = "An offering of the data space.", **fields: Any) -> OfferingIn:
    return OfferingIn.model_validate({"title": title, "description": description, "contains_pii": False, "policy": POLICY, **fields})


@dataclass
class Catalog:
    db: Database
    dids: dict[str, str]

    def session(self) -> Any:
        return self.db.transaction()

    def search(self, **query: Any) -> index.SearchPage[Offering]:
        tuning = {key: query.pop(key) for key in ("rank_window", "facet_sample") if key in query}
        with self.db.transaction() as session:
            page = service.search(session, SearchQuery(**query), **tuning)
            session.expunge_all()
        return page

    def titles(self, **query: Any) -> list[str]:
        return [offering.title for offering in self.search(**query).entries]


CORPUS = [
    ("edtech-a", draft("MOOC learning traces 2025", "xAPI statements of learners in our MOOCs.", keywords=["xAPI", "MOOC"], data_categories=["learning_traces"], contains_pii=True)),
    ("edtech-a", draft("Adaptive learning engine", "Recommends the next activity from learning traces.", kind="software_service", data_categories=["learning_traces"], service_categories=["adaptive_learning"])),
    ("edtech-a", draft("Soft skills self-assessments", "Questionnaires on teamwork and communication.", keywords=["soft skills", "questionnaire"], data_categories=["soft_skills", "assessment_results"], contains_pii=True)),
    ("school-b", draft("Student skills profiles", "Hard and soft skills of graduating students, mapped to ESCO.", keywords=["ESCO"], data_categories=["skills_profile", "hard_skills", "soft_skills"], contains_pii=True)),
    ("school-b", draft("Training offers of the region", "Every vocational training offered in the region, with its skills.", keywords=["training", "ESCO"], data_categories=["training_offers"])),
    ("school-b", draft("Skills matching API", "Matches skills profiles with job offers and trainings.", kind="data_service", keywords=["matching"], data_categories=["skills_profile", "job_offers"], service_categories=["skills_matching", "training_matching"], endpoint_url="https://school-b.example/match")),
    ("pes-c", draft("Job offers feed", "Open positions published by employers, with required skills.", keywords=["jobs", "ESCO"], data_categories=["job_offers"])),
    ("pes-c", draft("Career paths of job seekers", "Professional experience and trainings followed by job seekers.", data_categories=["professional_experience", "learning_experience"], contains_pii=True)),
    ("pes-c", draft("Dropout early warning", "Learning analytics that flag learners at risk of dropping out.", kind="software_service", keywords=["dropout"], service_categories=["dropout_detection", "learning_analytics"])),
]


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    db = Database(database_url)
    db.migrate()
    dids = {}
    with db.transaction() as session:
        for slug in ("edtech-a", "school-b", "pes-c"):
            dids[slug] = identity.create_participant(session, SEALER, BASE_URL, slug, slug.title()).did
        for slug, offering in CORPUS:
            service.publish(session, slug, offering)
    yield Catalog(db, dids)
    db.dispose()


def brute_force(session: Session, query: SearchQuery, matching_ids: set[str]) -> tuple[int, dict[str, Counter[str]]]:
    """The facet counts of a set of offerings, counted one by one (what the index must agree with)."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in ("data_category", "service_category", "provider", "kind", "contains_pii")}
    offerings = [o for o in session.query(Offering).all() if o.id in matching_ids]
    for o in offerings:
        counts["data_category"].update(o.data_categories)
        counts["service_category"].update(o.service_categories)
        counts["provider"][o.provider_did] += 1
        counts["kind"][o.kind] += 1
        counts["contains_pii"]["true" if o.contains_pii else "false"] += 1
    return len(offerings), counts


def test_words_must_all_match_and_match_as_prefixes(catalog: Catalog) -> None:
    assert catalog.titles(text="learning traces") == ["MOOC learning traces 2025", "Adaptive learning engine"]
    assert set(catalog.titles(text="learn")) == {"MOOC learning traces 2025", "Adaptive learning engine", "Dropout early warning"}
    assert catalog.titles(text="esco jobs") == ["Job offers feed"]
    assert catalog.titles(text="teamwork") == ["Soft skills self-assessments"], "descriptions are searched"
    assert catalog.titles(text="questionnaire") == ["Soft skills self-assessments"], "keywords are searched"
    assert catalog.titles(text="nothing-like-this") == []


def test_title_matches_rank_before_description_matches(catalog: Catalog) -> None:
    titles = catalog.titles(text="skills")
    assert titles[0] in {"Student skills profiles", "Soft skills self-assessments", "Skills matching API"}
    assert titles.index("Job offers feed") > titles.index("Skills matching API")
    assert titles.index("Training offers of the region") > titles.index("Student skills profiles")


def test_every_facet_filters(catalog: Catalog) -> None:
    assert set(catalog.titles(data_category=DataCategory.JOB_OFFERS)) == {"Job offers feed", "Skills matching API"}
    assert catalog.titles(service_category=ServiceCategory.TRAINING_MATCHING) == ["Skills matching API"]
    assert set(catalog.titles(kind=OfferingKind.SOFTWARE_SERVICE)) == {"Adaptive learning engine", "Dropout early warning"}
    assert len(catalog.titles(contains_pii=True)) == 4
    assert len(catalog.titles(provider=catalog.dids["pes-c"])) == 3
    assert catalog.titles(provider="pes-c") == catalog.titles(provider=catalog.dids["pes-c"]), "a local slug names its DID"
    assert catalog.titles(provider="nobody") == []
    assert set(catalog.titles(keyword="esco")) == {"Student skills profiles", "Training offers of the region", "Job offers feed"}
    assert catalog.titles(keyword="  Soft   Skills ") == ["Soft skills self-assessments"], "keywords compare normalized"
    assert catalog.titles(keyword="soft") == [], "a keyword filter is exact, not a word search"
    assert catalog.titles(text="skills", data_category=DataCategory.SOFT_SKILLS, contains_pii=True, provider="school-b") == ["Student skills profiles"]


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(),
        SearchQuery(contains_pii=True),
        SearchQuery(data_category=DataCategory.SKILLS_PROFILE),
        SearchQuery(service_category=ServiceCategory.LEARNING_ANALYTICS, kind=OfferingKind.SOFTWARE_SERVICE),
        SearchQuery(text="skills"),
        SearchQuery(text="learn", contains_pii=False),
        SearchQuery(keyword="ESCO"),
        SearchQuery(keyword="ESCO", data_category=DataCategory.JOB_OFFERS),
    ],
    ids=["browse", "pii", "category", "service+kind", "text", "text+pii", "keyword", "keyword+category"],
)
def test_facet_counts_equal_a_count_of_the_matches(catalog: Catalog, query: SearchQuery) -> None:
    everything = catalog.search(**{**query.__dict__, "limit": 100})
    with catalog.db.transaction() as session:
        total, expected = brute_force(session, query, {o.id for o in everything.entries})
    assert everything.total == total and everything.facets_exact
    for name, counts in expected.items():
        assert getattr(everything.facets, name) == dict(counts), name
    assert list(everything.facets.data_category.values()) == sorted(everything.facets.data_category.values(), reverse=True)


def test_pages_partition_the_results(catalog: Catalog) -> None:
    for query in ({}, {"text": "skills"}, {"data_category": DataCategory.SKILLS_PROFILE}):
        whole = catalog.titles(**query, limit=100)
        pages = [catalog.titles(**query, limit=2, offset=offset) for offset in range(0, 10, 2)]
        assert [title for page in pages for title in page] == whole
        assert catalog.search(**query, limit=2, offset=4).total == len(whole)
    assert catalog.titles()[0] == "Dropout early warning", "browsing lists the newest first"


def test_retired_and_new_offerings_show_at_once(catalog: Catalog) -> None:
    with catalog.db.transaction() as session:
        job_feed = service.search(session, SearchQuery(text="job offers feed")).entries[0]
        service.retire(session, "pes-c", job_feed.id)
        service.publish(session, "pes-c", draft("Apprenticeship offers", keywords=["ESCO"], data_categories=["job_offers", "training_offers"]))
    assert catalog.titles(text="feed") == []
    page = catalog.search(data_category=DataCategory.JOB_OFFERS)
    assert {o.title for o in page.entries} == {"Skills matching API", "Apprenticeship offers"}
    assert page.facets.data_category == {"job_offers": 2, "skills_profile": 1, "training_offers": 1}
    assert catalog.search().total == len(CORPUS)
    assert catalog.search(keyword="esco").total == 3


def test_query_text_is_never_index_syntax(catalog: Catalog) -> None:
    for text in ['"', "*", "skills*", 'NEAR("a" "b")', "a AND", "OR", "-skills", "title:skills", "{title}: x", "^x", "x'y", "(((", "'':*", "l'élève", "ÉSCO", "💡 skills", "_"]:
        page = catalog.search(text=text)
        assert page.total >= 0
    assert catalog.titles(text="skills-matching!") == ["Skills matching API"]
    assert catalog.titles(text="   ") == catalog.titles(), "no words: a browse"


def test_broad_queries_rank_only_the_newest_matches(catalog: Catalog) -> None:
    """With a rank window of 3, a query matching 5 ranks the newest 3, then lists the others newest first."""
    query = {"text": "skills"}
    everything = catalog.search(**query, limit=100)
    assert everything.total == 5
    with catalog.db.transaction() as session:
        newest_first = [o.title for o in session.query(Offering).order_by(Offering.pk.desc()).all() if o.title in {e.title for e in everything.entries}]
    windowed = catalog.titles(**query, limit=100, rank_window=3)
    assert set(windowed[:3]) == set(newest_first[:3]) and windowed[3:] == newest_first[3:]
    assert windowed[:3] == [t for t in catalog.titles(**query, limit=100) if t in newest_first[:3]], "the window keeps relevance order"
    pages = [catalog.titles(**query, limit=2, offset=offset, rank_window=3) for offset in (0, 2, 4)]
    assert [t for page in pages for t in page] == windowed, "pages straddle the window boundary consistently"


def test_facets_of_huge_result_sets_are_estimated_from_a_sample(catalog: Catalog) -> None:
    """On SQLite, where counting a match's facets costs a row lookup; PostgreSQL counts them exactly."""
    rng = random.Random(7)
    with catalog.db.transaction() as session:
        drafts = [
            draft(f"Learning traces batch {i}", keywords=["bulk"], data_categories=rng.sample(["learning_traces", "soft_skills", "hard_skills"], 1), contains_pii=rng.random() < 0.5)
            for i in range(300)
        ]
        service.publish_many(session, "edtech-a", drafts)
    exact = catalog.search(text="batch")
    sampled = catalog.search(text="batch", facet_sample=60)
    if backend_name() == "postgresql":
        assert sampled.facets_exact and sampled.facets == exact.facets, "the scan that counts the matches counts the facets"
        return
    assert exact.facets_exact and not sampled.facets_exact
    assert sampled.total == exact.total == 300, "the total is always counted"
    for value, count in exact.facets.data_category.items():
        assert abs(sampled.facets.data_category[value] - count) < 60, (value, count, sampled.facets.data_category)
    assert sampled.facets.provider == {catalog.dids["edtech-a"]: 300}
    assert catalog.search(keyword="bulk", facet_sample=60).facets_exact is False
    assert catalog.search(data_category=DataCategory.SOFT_SKILLS).facets_exact, "filter-only counts come from the running counts"


def test_rebuilding_the_index_gives_the_same_answers(catalog: Catalog) -> None:
    before = [(catalog.search(**q).total, catalog.search(**q).facets) for q in ({}, {"text": "skills"}, {"keyword": "esco"})]
    with catalog.db.transaction() as session:
        assert index.rebuild(session, index.LOCAL_INDEX) == len(CORPUS)
    after = [(catalog.search(**q).total, catalog.search(**q).facets) for q in ({}, {"text": "skills"}, {"keyword": "esco"})]
    assert after == before


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "node", database_url=database_url, node_secret="catalog-search-secret-0123456789", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as test_client:
        node = test_client.app.state.node  # type: ignore[attr-defined]
        with node.db.transaction() as session:
            for slug in ("edtech-a", "school-b", "pes-c"):
                identity.create_participant(session, node.sealer, node.settings.base_url, slug, slug.title())
            for slug, offering in CORPUS:
                service.publish(session, slug, offering)
        yield test_client


def test_search_over_http(client: TestClient) -> None:
    response = client.get("/catalog/search", params={"q": "skills", "contains_pii": "true", "limit": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["limit"] == 1 and body["facets_exact"]
    assert body["facets"]["contains_pii"] == {"true": 2}
    hit = body["items"][0]
    assert set(hit) >= {"id", "offer_id", "provider", "participant", "kind", "title", "keywords", "data_categories", "contains_pii"}
    assert client.get("/catalog/search", params={"provider": "school-b", "kind": "data_service"}).json()["items"][0]["title"] == "Skills matching API"


@pytest.mark.parametrize(
    "params",
    [{"data_category": "gossip"}, {"kind": "person"}, {"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 10_001}, {"q": "x" * 201}, {"q": "a\x00b"}, {"contains_pii": "maybe"}, {"keyword": ""}],
)
def test_bad_search_parameters_are_refused_naming_them(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/catalog/search", params=params)
    assert response.status_code == 422, response.text
    assert any(next(iter(params)) in error["field"] for error in response.json()["errors"])
