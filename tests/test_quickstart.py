"""The quickstart's journey on four real nodes: what leaves a provider is exactly the rows of the
learners who gave consent, and the folder rules keep a user's files safe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.ledger import service as ledger
from dases.quickstart import MARKER, prepare_folder
from dases.quickstart.journey import Journey
from dases.quickstart.scenario import PROVIDERS

from .conftest import SHARED


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, make_module_database_url: Callable[[], str]) -> Iterator[Journey]:
    """One journey for the module (starting four nodes costs seconds), on the suite's backend."""
    root = tmp_path_factory.mktemp("quickstart")
    prepare_folder(root, fresh=False)
    run = Journey(
        root=root, oulad=SHARED / "data" / "oulad", dpv=SHARED / "specs" / "dpv", learners=2000, report=lambda _line: None,
        database_url_for=lambda _name: make_module_database_url(),
    )  # fmt: skip
    try:
        run.start()
        run.onboard()
        run.load_scenario()
        run.publish()
        run.consents()
        run.negotiate()
        run.transfer()
        pseudonymise = run.pseudonymiser()
        run.outcomes = {"study": run.pool_and_train(pseudonymise), "impact": run.impact(pseudonymise)}  # type: ignore[attr-defined]
        yield run
    finally:
        run.stop()


def test_only_the_rows_of_consenting_learners_leave_the_providers(journey: Journey) -> None:
    assert journey.scenario is not None
    for provider in PROVIDERS:
        consenting = {learner.id_student for learner in journey.scenario.learners if provider in learner.providers and learner.answer == "give"}
        held = pl.read_csv(journey.scenario.exports[provider]["registrations"], infer_schema_length=0)
        received = pl.read_csv(journey.received[(provider, "registrations")], infer_schema_length=0)
        assert set(received["id_student"].to_list()) == consenting
        # Every row of a consenting learner is released, whole: nothing is lost on the way.
        expected = held.filter(pl.col("id_student").is_in(consenting)).sort(["id_student", "code_module", "code_presentation"])
        assert received.sort(["id_student", "code_module", "code_presentation"]).equals(expected)
        submissions = pl.read_csv(journey.received[(provider, "submissions")], infer_schema_length=0)
        assert set(submissions["id_student"].to_list()) <= consenting


def test_refusals_and_withdrawals_are_part_of_the_scenario(journey: Journey) -> None:
    assert journey.scenario is not None
    answers = journey.scenario.answers()
    assert sum(answers.values()) == len(journey.scenario.learners)
    assert answers["refuse"] > 0 and answers["withdraw"] > 0
    assert answers["give"] > answers["refuse"] + answers["withdraw"]


def ledger_kinds(journey: Journey, slug: str) -> list[str]:
    with journey.nodes[slug].node.db.transaction() as session:
        assert ledger.verify(session, slug).ok
        return [entry.kind for entry in ledger.entries(session, slug)]


def test_every_exchange_is_in_both_parties_ledgers(journey: Journey) -> None:
    for provider in PROVIDERS:
        assert ledger_kinds(journey, provider) == ["transfer.started", "transfer.completed"] * 2
    school = ledger_kinds(journey, "school")
    assert school.count("transfer.completed") == 4, school


def test_a_folder_that_is_not_a_quickstart_is_never_emptied(tmp_path: Path) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter-1.tex").write_text("precious")
    with pytest.raises(InvalidInput, match="not a quickstart folder"):
        prepare_folder(mine, fresh=True)
    assert (mine / "chapter-1.tex").read_text() == "precious"
    earlier = tmp_path / "qs"
    prepare_folder(earlier, fresh=False)
    (earlier / "operator").mkdir()
    with pytest.raises(InvalidInput, match="--fresh"):
        prepare_folder(earlier, fresh=False)
    prepare_folder(earlier, fresh=True)
    assert sorted(path.name for path in earlier.iterdir()) == [MARKER]


def test_the_pooled_study_is_k_anonymous_pseudonymous_and_trained(journey: Journey) -> None:
    study = journey.outcomes["study"]  # type: ignore[attr-defined]
    assert study["k"] >= 5
    card = Path(study["card"]).read_text()
    assert f"k = {study['k']}" in card
    assert "of learners have a consent covering this purpose" in card
    assert 0.5 < float(study["auc"].split()[0]) <= 1.0
    # The pooling space's outputs carry pseudonyms, never a learner's OULAD id.
    raw = {learner.id_student for learner in journey.scenario.learners}  # type: ignore[union-attr]
    written = " ".join(path.read_text(errors="ignore") for path in (journey.root / "school" / "study").glob("*") if path.suffix in (".md", ".json"))
    assert not any(f" {student} " in written or f'"{student}"' in written for student in raw)


def test_the_impact_study_balances_the_covariates(journey: Journey) -> None:
    release = journey.outcomes["impact"]  # type: ignore[attr-defined]
    pooled = release["pooled"]
    assert pooled["balance"]["max_abs_smd_after"] < pooled["balance"]["max_abs_smd_before"]
    assert {estimate["estimand"] for estimate in pooled["estimates"]} >= {"ATE"}
    assert (journey.root / "school" / "impact" / "balance.png").stat().st_size > 1000
