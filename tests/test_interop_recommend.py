"""Training recommendations for a real ESCO occupation (web developer, ESCO v1.1.1: 21 essential
and 77 optional skills): the gap is what the learner's profile lacks, trainings of the catalog
that teach gap skills are ranked by essential skills covered, then by gap skills covered, and each
says why; held skills, retired trainings and other kinds of offerings are never recommended; an
occupation ESCO lacks is a 4xx naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import RunningNode
from .skills_support import (
    ADA,
    COMPUTER_PROGRAMMING,
    DEBUG_SOFTWARE,
    ERLANG,
    FRONT_END_DESIGN,
    HASKELL,
    KDEVELOP,
    MARKUP_LANGUAGES,
    SAS_LANGUAGE,
    SOFTWARE_LIBRARIES,
    STYLE_SHEET_LANGUAGES,
    WEB_DEVELOPER,
    WEB_PROGRAMMING,
    Provider,
    real_esco,
    start_provider,
    statement,
    training,
)


def recommendations(provider: Provider, occupation: str = WEB_DEVELOPER, agent: dict[str, Any] = ADA) -> Any:
    with provider.as_itself() as client:
        return client.get(
            "/participants/edtech-a/skills/recommendations", params={"agent": json.dumps(agent), "occupation": occupation}
        )


def essential_skills_of_web_developer() -> list[str]:
    return sorted(r.skill_uri for r in real_esco().occupation_skills(WEB_DEVELOPER) if r.relation == "essential")


def labels(uris: list[str]) -> str:
    return ", ".join(real_esco().skills[uri].label() for uri in uris)


@pytest.fixture
def provider(start_node: Callable[..., RunningNode]) -> Provider:
    """Ada holds three essential skills of web developer: computer programming, web programming, debug software."""
    provider = start_provider(start_node)
    aligned = provider.align([("prog-101", COMPUTER_PROGRAMMING), ("web-201", WEB_PROGRAMMING), ("debug-lab", DEBUG_SOFTWARE)])
    assert aligned.status_code == 200
    provider.post_statements([
        statement(ADA, "completed", "prog-101"),
        statement(ADA, "passed", "web-201"),
        statement(ADA, "completed", "debug-lab"),
    ])
    return provider


def test_trainings_are_ranked_by_essential_then_all_gap_skills_and_explained(provider: Provider) -> None:
    functional = provider.publish(training("Functional languages", [HASKELL, ERLANG, SAS_LANGUAGE]))
    craft = provider.publish(training("Software craft", [DEBUG_SOFTWARE, SOFTWARE_LIBRARIES, ERLANG, KDEVELOP]))
    front = provider.publish(training("Front-end bootcamp", [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, FRONT_END_DESIGN, HASKELL]))
    provider.publish(training("Programming again", [COMPUTER_PROGRAMMING]))
    retired = provider.publish(training("Old web course", [SOFTWARE_LIBRARIES, MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, FRONT_END_DESIGN]))
    with provider.admin() as client:
        assert client.delete(f"/participants/edtech-a/offerings/{retired['id']}").status_code in (200, 204)

    response = recommendations(provider)
    assert response.status_code == 200, response.text
    report = response.json()
    essential = essential_skills_of_web_developer()
    held = [COMPUTER_PROGRAMMING, DEBUG_SOFTWARE, WEB_PROGRAMMING]
    gap_essential = [uri for uri in essential if uri not in held]
    assert report["occupation_label"] == "web developer"
    assert sorted(s["skill_uri"] for s in report["held"]) == held
    assert [s["skill_uri"] for s in report["gap"] if s["relation"] == "essential"] == gap_essential
    assert len(report["gap"]) == 18 + 77

    assert [r["offering_id"] for r in report["recommendations"]] == [front["id"], craft["id"], functional["id"]]
    first, second, third = report["recommendations"]
    assert [s["skill_uri"] for s in first["covers_essential"]] == [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, FRONT_END_DESIGN]
    assert [s["skill_uri"] for s in first["covers_optional"]] == [HASKELL]
    assert len(first["remaining_essential"]) == 15
    assert first["explanation"] == (
        "Teaches 3 essential skill(s) of web developer you lack: use markup languages, style sheet languages, "
        "implement front-end website design; and 1 optional skill(s) you lack: Haskell. "
        f"Essential skills still uncovered after it: {labels([s['skill_uri'] for s in first['remaining_essential']])}."
    )
    assert [s["skill_uri"] for s in second["covers_essential"]] == [SOFTWARE_LIBRARIES]
    assert [s["skill_uri"] for s in second["covers_optional"]] == [KDEVELOP, ERLANG]
    assert second["explanation"].startswith(
        "Teaches 1 essential skill(s) of web developer you lack: use software libraries; "
        "and 2 optional skill(s) you lack: KDevelop, Erlang. Essential skills still uncovered after it: "
    )
    assert DEBUG_SOFTWARE not in {s["skill_uri"] for s in second["covers_essential"] + second["covers_optional"]}
    assert third["covers_essential"] == [] and [s["skill_uri"] for s in third["covers_optional"]] == [HASKELL, ERLANG, SAS_LANGUAGE]
    assert third["explanation"].startswith("Teaches 3 optional skill(s) you lack: Haskell, Erlang, SAS language. ")
    assert len(third["remaining_essential"]) == 18

    uncovered = [s["skill_uri"] for s in report["uncovered_essential"]]
    assert uncovered == [uri for uri in gap_essential if uri not in {MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, FRONT_END_DESIGN, SOFTWARE_LIBRARIES}]
    assert len(uncovered) == 14


def test_a_training_that_closes_the_essential_gap_says_so_and_comes_first(provider: Provider) -> None:
    gap_essential = [uri for uri in essential_skills_of_web_developer() if uri not in {COMPUTER_PROGRAMMING, WEB_PROGRAMMING, DEBUG_SOFTWARE}]
    partial = provider.publish(training("Front-end bootcamp", [MARKUP_LANGUAGES, STYLE_SHEET_LANGUAGES, HASKELL, ERLANG, SAS_LANGUAGE]))
    full = provider.publish(training("Web developer programme", gap_essential))
    report = recommendations(provider).json()
    assert [r["offering_id"] for r in report["recommendations"]] == [full["id"], partial["id"]]
    assert report["recommendations"][0]["remaining_essential"] == []
    assert report["recommendations"][0]["explanation"].endswith("With it, no essential skill of the occupation remains uncovered.")
    assert report["uncovered_essential"] == []


def test_no_training_without_gap_skills_and_only_trainings(provider: Provider) -> None:
    provider.publish(training("Programming again", [COMPUTER_PROGRAMMING, WEB_PROGRAMMING]))
    report = recommendations(provider).json()
    assert report["recommendations"] == [] and len(report["uncovered_essential"]) == 18


def test_an_occupation_esco_lacks_is_refused_naming_it(provider: Provider) -> None:
    unknown = recommendations(provider, "http://data.europa.eu/esco/occupation/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "occupation"
    not_esco = recommendations(provider, "https://example.org/jobs/web-developer")
    assert not_esco.status_code == 422 and not_esco.json()["errors"][0]["field"] == "occupation"
