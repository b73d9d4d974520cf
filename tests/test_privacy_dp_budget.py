"""Differentially private answers: the noise has the spread its scale promises and is centred on
the truth; answers are refused once the (dataset, consumer) budget is spent, exactly and even
under concurrent queries; budgets are set by the participant's admin over HTTP."""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import httpx
import polars as pl
import pytest

from dases.db import Database
from dases.errors import InvalidInput
from dases.identity.client import signed_client
from dases.privacy import dp, service
from dases.privacy.service import PrivacyBudgetExhausted

from .conftest import ADMIN_TOKEN, RunningNode

STUDENT_INFO = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad" / "studentInfo.csv"
EDTECH = "did:web:edtech.example.org:participants:edtech"
OTHER = "did:web:other.example.org:participants:other"


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return pl.read_csv(STUDENT_INFO, infer_schema_length=0)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.mark.parametrize("scale", [Fraction(1, 2), Fraction(2), Fraction(10)])
def test_discrete_laplace_draws_have_the_promised_spread(scale: Fraction) -> None:
    draws = [dp.discrete_laplace(scale) for _ in range(4000)]
    variance = dp.discrete_laplace_variance(scale)
    assert all(isinstance(x, int) for x in draws)
    assert abs(statistics.fmean(draws)) < 5 * math.sqrt(variance / len(draws))
    assert statistics.pvariance(draws) == pytest.approx(variance, rel=0.15)
    # Symmetric: as many draws above zero as below, within five standard deviations.
    above, below = sum(x > 0 for x in draws), sum(x < 0 for x in draws)
    assert abs(above - below) < 5 * math.sqrt(above + below)


def test_noisy_count_and_histogram_are_centred_on_the_truth(frame: pl.DataFrame) -> None:
    counts = [dp.count(frame, 1.0).value for _ in range(400)]
    assert len(set(counts)) > 3  # noise was added
    assert statistics.fmean(counts) == pytest.approx(frame.height, abs=5 * math.sqrt(dp.discrete_laplace_variance(1) / 400))

    bins = ["Withdrawn", "Fail", "Pass", "Distinction", "Not a result"]
    truth = dict(frame["final_result"].value_counts().iter_rows())
    runs = [dp.histogram(frame, "final_result", bins, 0.5).counts for _ in range(200)]
    spread = 5 * math.sqrt(dp.discrete_laplace_variance(2) / 200)
    for index, name in enumerate(bins):
        assert statistics.fmean(run[index] for run in runs) == pytest.approx(truth.get(name, 0), abs=spread)


def test_bounded_mean_stays_in_bounds_and_near_the_clamped_mean(frame: pl.DataFrame) -> None:
    credits = frame["studied_credits"].cast(pl.Float64)
    clamped = float(credits.clip(0, 240).mean())  # type: ignore[arg-type]
    means = [dp.bounded_mean(frame, "studied_credits", 0, 240, 1.0).value for _ in range(200)]
    assert all(0 <= m <= 240 for m in means)
    assert statistics.fmean(means) == pytest.approx(clamped, abs=0.5)
    # A tiny dataset gets a mean drowned in noise, but still within the declared bounds.
    tiny = [dp.bounded_mean(frame.head(3), "studied_credits", 0, 240, 0.1).value for _ in range(50)]
    assert all(0 <= m <= 240 for m in tiny) and len(set(tiny)) > 10


@pytest.mark.parametrize("epsilon", [0, -1, float("nan"), float("inf"), 10.5])
def test_bad_epsilon_is_named(frame: pl.DataFrame, epsilon: float) -> None:
    with pytest.raises(InvalidInput) as error:
        dp.count(frame, epsilon)
    assert error.value.errors[0].field == "epsilon"


def test_bad_query_input_is_named(frame: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput) as error:
        dp.histogram(frame, "shoe_size", ["40"], 1.0)
    assert error.value.errors[0].field == "column"
    with pytest.raises(InvalidInput) as error:
        dp.histogram(frame, "final_result", ["Pass", "Pass"], 1.0)
    assert error.value.errors[0].field == "bins"
    with pytest.raises(InvalidInput) as error:
        dp.bounded_mean(frame, "studied_credits", 10, 10, 1.0)
    assert error.value.errors[0].field == "lower"


def test_budget_is_spent_exactly_and_then_refused(db: Database, frame: pl.DataFrame) -> None:
    with db.transaction() as session:
        service.grant(session, "school", "oulad-2024", EDTECH, 1.0)
    for _ in range(2):
        with db.transaction() as session:
            answer = service.release(session, "school", "oulad-2024", EDTECH, 0.4, "count", lambda: dp.count(frame, 0.4))
        assert abs(answer.value - frame.height) < 200
    with db.transaction() as session, pytest.raises(PrivacyBudgetExhausted) as refused:
        service.release(session, "school", "oulad-2024", EDTECH, 0.4, "count", lambda: dp.count(frame, 0.4))
    assert refused.value.status == 403 and "0.2 left of 1" in refused.value.detail
    with db.transaction() as session:
        assert service.budget(session, "school", "oulad-2024", EDTECH).spent == pytest.approx(0.8)
        service.spend(session, "school", "oulad-2024", EDTECH, 0.2, "count")  # 0.4 + 0.4 + 0.2 is exactly 1
    with db.transaction() as session:
        view = service.budget(session, "school", "oulad-2024", EDTECH)
        assert (view.spent, view.remaining) == (1.0, 0.0)
    with db.transaction() as session, pytest.raises(PrivacyBudgetExhausted):
        service.spend(session, "school", "oulad-2024", EDTECH, 0.000001, "count")

    # Budgets are per consumer and per dataset; none granted means none to spend.
    with db.transaction() as session, pytest.raises(PrivacyBudgetExhausted, match="no privacy budget"):
        service.spend(session, "school", "oulad-2024", OTHER, 0.1, "count")
    with db.transaction() as session, pytest.raises(PrivacyBudgetExhausted, match="no privacy budget"):
        service.spend(session, "school", "another-dataset", EDTECH, 0.1, "count")
    # Raising the total gives room again; what was spent stays spent.
    with db.transaction() as session:
        assert service.grant(session, "school", "oulad-2024", EDTECH, 1.5).remaining == pytest.approx(0.5)


def test_a_failed_answer_gives_its_epsilon_back(db: Database, frame: pl.DataFrame) -> None:
    with db.transaction() as session:
        service.grant(session, "school", "oulad-2024", EDTECH, 1.0)
    with pytest.raises(InvalidInput), db.transaction() as session:
        service.release(session, "school", "oulad-2024", EDTECH, 0.5, "mean", lambda: dp.bounded_mean(frame, "no_such_column", 0, 1, 0.5))
    with db.transaction() as session:
        assert service.budget(session, "school", "oulad-2024", EDTECH).spent == 0


def test_concurrent_queries_cannot_overspend(db: Database) -> None:
    with db.transaction() as session:
        service.grant(session, "school", "oulad-2024", EDTECH, 1.0)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def query() -> None:
        try:
            with db.transaction() as session:
                service.spend(session, "school", "oulad-2024", EDTECH, 0.3, "count")
            ok = True
        except PrivacyBudgetExhausted:
            ok = False
        with lock:
            outcomes.append(ok)

    threads = [threading.Thread(target=query) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True] * 3
    with db.transaction() as session:
        assert service.budget(session, "school", "oulad-2024", EDTECH).spent == pytest.approx(0.9)


def test_budgets_over_http_are_for_the_admin(start_node: Callable[..., RunningNode]) -> None:
    node = start_node()
    node.add_participant("school", "School")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with node.client(headers=admin) as client:
        granted = client.put("/participants/school/privacy/budgets", json={"dataset": "oulad-2024", "consumer": EDTECH, "epsilon": 2})
        assert granted.status_code == 200, granted.text
        assert granted.json() == {"dataset": "oulad-2024", "consumer": EDTECH, "epsilon": 2.0, "spent": 0.0, "remaining": 2.0}
        with node.node.db.transaction() as session:
            service.spend(session, "school", "oulad-2024", EDTECH, 0.5, "count")
        listed = client.get("/participants/school/privacy/budgets").json()
        assert [(b["dataset"], b["spent"], b["remaining"]) for b in listed] == [("oulad-2024", 0.5, 1.5)]

        bad = client.put("/participants/school/privacy/budgets", json={"dataset": "oulad-2024", "consumer": EDTECH, "epsilon": -1})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.epsilon"
        bad_did = client.put("/participants/school/privacy/budgets", json={"dataset": "d", "consumer": "edtech", "epsilon": 1})
        assert bad_did.status_code == 422 and bad_did.json()["errors"][0]["field"] == "body.consumer"
        assert client.get("/participants/nobody/privacy/budgets").status_code == 404
    with node.client() as anonymous:
        assert anonymous.get("/participants/school/privacy/budgets").status_code == 401


def test_consumers_query_over_signed_calls_until_their_budget_is_spent(start_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    provider = start_node()
    provider.add_participant("school", "School")
    consumer = start_node()
    consumer.add_participant("edtech", "EdTech")
    stranger = start_node()
    stranger.add_participant("stranger", "Stranger")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    edtech = consumer.did("edtech")

    with provider.client(headers=admin) as client:
        declared = client.put("/participants/school/privacy/datasets/oulad-2024", json={"path": str(STUDENT_INFO)})
        assert declared.status_code == 200, declared.text
        assert declared.json()["format"] == "csv"
        relative = client.put("/participants/school/privacy/datasets/x", json={"path": "studentInfo.csv"})
        assert relative.status_code == 422 and relative.json()["errors"][0]["rule"] == "absolute"
        secret = client.put("/participants/school/privacy/datasets/x", json={"path": str(provider.node.settings.data_dir / "node.secret")})
        assert secret.status_code == 422 and secret.json()["errors"][0]["rule"] == "outside_data_dir"
        assert client.put("/participants/school/privacy/budgets", json={"dataset": "oulad-2024", "consumer": edtech, "epsilon": 1}).status_code == 200

    def ask(node: RunningNode, slug: str, **body: object) -> httpx.Response:
        with signed_client(node.signer(slug), provider.did("school"), base_url=provider.url, timeout=30) as client:
            return client.post("/participants/school/privacy/datasets/oulad-2024/queries", json=body)

    counted = ask(consumer, "edtech", query="count", epsilon=0.5)
    assert counted.status_code == 200, counted.text
    assert abs(counted.json()["value"] - 32593) < 60 and counted.json()["remaining"] == 0.5

    # A malformed query is refused before anything is charged.
    missing = ask(consumer, "edtech", query="mean", column="studied_credits", epsilon=0.3)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "lower"
    unknown = ask(consumer, "edtech", query="histogram", column="shoe_size", bins=["40"], epsilon=0.3)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "column"

    histogram = ask(consumer, "edtech", query="histogram", column="final_result", bins=["Pass", "Fail"], epsilon=0.3)
    assert histogram.status_code == 200 and histogram.json()["bins"] == ["Pass", "Fail"]
    assert abs(histogram.json()["counts"][0] - 12361) < 200 and histogram.json()["remaining"] == pytest.approx(0.2)

    spent = ask(consumer, "edtech", query="mean", column="studied_credits", lower=0, upper=240, epsilon=0.3)
    assert spent.status_code == 403 and spent.json()["type"] == "urn:dases:problem:privacy-budget-exhausted"
    assert "0.2 left" in spent.json()["detail"]
    mean = ask(consumer, "edtech", query="mean", column="studied_credits", lower=0, upper=240, epsilon=0.2)
    assert mean.status_code == 200 and 0 <= mean.json()["value"] <= 240 and mean.json()["remaining"] == 0

    assert ask(stranger, "stranger", query="count", epsilon=0.1).status_code == 403  # no budget granted
    with provider.client() as anonymous:
        assert anonymous.post("/participants/school/privacy/datasets/oulad-2024/queries", json={"query": "count", "epsilon": 0.1}).status_code == 401
    with signed_client(consumer.signer("edtech"), provider.did("school"), base_url=provider.url, timeout=30) as client:
        # No budget on it: refused before anything is read.
        assert client.post("/participants/school/privacy/datasets/nothing/queries", json={"query": "count", "epsilon": 0.1}).status_code == 403
    with provider.client(headers=admin) as client:
        client.put("/participants/school/privacy/budgets", json={"dataset": "nothing", "consumer": edtech, "epsilon": 1})
    with signed_client(consumer.signer("edtech"), provider.did("school"), base_url=provider.url, timeout=30) as client:
        assert client.post("/participants/school/privacy/datasets/nothing/queries", json={"query": "count", "epsilon": 0.1}).status_code == 404
