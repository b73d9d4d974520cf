"""The quickstart's journey on four real nodes: what leaves a provider is exactly the rows of the
learners who gave consent, and the folder rules keep a user's files safe."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from dases.errors import InvalidInput
from dases.ledger import service as ledger
from dases.quickstart import MARKER, prepare_folder
from dases.quickstart.journey import Journey
from dases.quickstart.scenario import PROVIDERS

from .conftest import SHARED
from .test_learner_dashboard_browser import accessible, chromium  # noqa: F401  (chromium is a fixture)
from .test_portal_browser import shoot


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
    folder = journey.root / "school" / "studies" / "school" / "dropout-day-30"
    written = " ".join(path.read_text(errors="ignore") for path in folder.glob("*") if path.suffix in (".md", ".json"))
    assert not any(f" {student} " in written or f'"{student}"' in written for student in raw)


def test_the_impact_study_balances_the_covariates(journey: Journey) -> None:
    release = journey.outcomes["impact"]  # type: ignore[attr-defined]
    pooled = release["pooled"]
    assert pooled["balance"]["max_abs_smd_after"] < pooled["balance"]["max_abs_smd_before"]
    assert {estimate["estimand"] for estimate in pooled["estimates"]} >= {"ATE"}
    assert (journey.root / "school" / "studies" / "school" / "impact-cma-day-30" / "balance.png").stat().st_size > 1000


def portal_sign_in(client: httpx.Client, token: str) -> None:
    form = client.get("/portal/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    assert client.post("/portal/signin", data={"token": token, "csrf": csrf.group(1)}).status_code == 303


def test_the_school_reads_its_study_results_in_its_portal(journey: Journey) -> None:
    school = journey.nodes["school"]
    base = "/portal/members/school/studies"
    with httpx.Client(base_url=school.url, timeout=30) as anonymous:
        assert anonymous.get(base).status_code == 303  # sign in first
        assert anonymous.get(f"{base}/dropout-day-30/plots/roc.png").status_code == 303
    with httpx.Client(base_url=school.url, timeout=30, headers={"Accept-Language": "en"}) as reader:
        portal_sign_in(reader, school.admin_token)
        listing = reader.get(base)
        assert listing.status_code == 200
        assert "Early dropout at day 30" in listing.text and "Computer-marked quizzes by day 30" in listing.text
        page = reader.get(f"{base}/dropout-day-30")
        assert page.status_code == 200
        study = journey.outcomes["study"]  # type: ignore[attr-defined]
        assert f"k = {study['k']}" in page.text and "ROC AUC on the test presentations" in page.text
        plots = re.findall(r'src="(/portal/members/school/studies/dropout-day-30/plots/[a-z0-9_-]+\.png)"', page.text)
        assert plots, "the study page shows its plots"
        image = reader.get(plots[0])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        impact = reader.get(f"{base}/impact-cma-day-30")
        assert impact.status_code == 200 and "Effect on everyone (ATE)" in impact.text
        for bad in (f"{base}/nothing-here", f"{base}/dropout-day-30/plots/result.json", f"{base}/dropout-day-30/plots/..%2Fresult.json", f"{base}/Bad_Name"):
            assert reader.get(bad).status_code == 404, bad
    with httpx.Client(base_url=school.url, timeout=30, headers={"Accept-Language": "fr"}) as lecteur:
        portal_sign_in(lecteur, school.admin_token)
        assert "Modèle de décrochage précoce" in lecteur.get(base).text


def test_the_study_page_in_the_browser(journey: Journey, chromium: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    school = journey.nodes["school"]
    context = chromium.new_context(base_url=school.url, locale="en-GB", viewport={"width": 1100, "height": 820})
    page = context.new_page()
    try:
        page.goto("/portal/members/school/studies")
        page.get_by_label("Admin token of this node").fill(school.admin_token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Studies of Lycée Marie Curie")
        accessible(page, "en")
        page.get_by_role("link", name="Early dropout at day 30, EdTech Alpha and Beta pooled").click()
        expect(page.get_by_role("heading", name="Key figures")).to_be_visible()
        first_plot = page.locator("figure img").first
        expect(first_plot).to_be_visible()
        assert page.evaluate("img => img.naturalWidth", first_plot.element_handle()) > 100
        accessible(page, "en")
        shoot(page, "portal-study.png")
    finally:
        context.close()
