"""What the portal's pages cost on top of the service call each one is built on.

Run with `python bench/portal.py [--entries 10000] [--offerings 2000] [--rounds 15] [--database-url URL]`.

One node (SQLite file in a temporary directory by default), one hosted participant with
`--entries` ledger entries (appended and signed through `ledger.append`) and `--offerings`
offerings (published through `catalog.publish_many`). Then, median of `--rounds` each, in the
same run:

- the ledger page (`GET /portal/members/school/ledger`, signed in), against its baseline
  `ledger.verify` alone: the page verifies the whole chain at every view, so it can be no faster
  than that, and the ratio says what reading one page of entries and rendering it adds;
- the catalog page, a browse and a text search with a facet (`GET /portal/catalog`), against
  `catalog.search` with the same query alone.

The ratio is page time / baseline time: 1.0 would mean the page costs nothing on top.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient

from dases.app import create_app
from dases.catalog import service as catalog
from dases.catalog.index import SearchQuery
from dases.catalog.models import DataCategory, OfferingIn
from dases.identity import service as identity
from dases.ledger import service as ledger
from dases.settings import Settings
from dases.web import portal_sessions

POLICY = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}
WORDS = ["traces", "cohort", "scores", "mooc", "badges", "skills", "dropout", "maths", "python", "forum"]


def median_time(action: Callable[[], object], rounds: int) -> float:
    action()  # warm: templates compiled, caches filled
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fill(app_settings: Settings, client: TestClient, entries: int, offerings: int) -> None:
    node = client.app.state.node  # type: ignore[attr-defined]
    with node.db.transaction() as session:
        identity.create_participant(session, node.sealer, app_settings.base_url, "school", "Lycée Victor Hugo")
    for start in range(0, entries, 1000):
        with node.db.transaction() as session:
            for n in range(start, min(entries, start + 1000)):
                body = {"transfer_id": f"t-{n}", "agreement_id": f"a-{n % 50}", "counterparty": "did:web:edtech.example", "bytes": 1000 + n, "record_count": n % 97}
                ledger.append(session, node.sealer, "school", "transfer.completed", body)
    categories = list(DataCategory)
    for start in range(0, offerings, 500):
        drafts = [
            OfferingIn.model_validate({
                "title": f"{WORDS[n % len(WORDS)].title()} extract {n}",
                "description": f"Weekly {WORDS[(n * 7) % len(WORDS)]} and {WORDS[(n * 3) % len(WORDS)]} of our learners.",
                "keywords": [WORDS[n % len(WORDS)]],
                "data_categories": [categories[n % len(categories)].value],
                "contains_pii": False,
                "policy": POLICY,
            })
            for n in range(start, min(offerings, start + 500))
        ]
        with node.db.transaction() as session:
            catalog.publish_many(session, "school", drafts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--offerings", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(data_dir=Path(tmp), database_url=url, node_secret="bench-portal-secret-0123456789", admin_token="bench-admin-token-0123456789")
        with TestClient(create_app(settings)) as client:
            started = time.perf_counter()
            fill(settings, client, args.entries, args.offerings)
            print(f"{args.entries} ledger entries and {args.offerings} offerings written in {time.perf_counter() - started:.1f} s ({client.app.state.node.db.backend})")  # type: ignore[attr-defined]
            client.cookies.set(portal_sessions.SESSION_COOKIE, portal_sessions.open_session(settings))
            node = client.app.state.node  # type: ignore[attr-defined]

            def verify_only() -> None:
                with node.db.transaction() as session:
                    assert ledger.verify(session, "school").ok

            def ledger_page() -> None:
                response = client.get("/portal/members/school/ledger", params={"page": "3", "lang": "en"})
                assert response.status_code == 200 and "Chain verified" in response.text

            def search_only(query: SearchQuery) -> Callable[[], None]:
                def run() -> None:
                    with node.db.transaction() as session:
                        catalog.search(session, query)

                return run

            def catalog_page(params: dict[str, str]) -> Callable[[], None]:
                def run() -> None:
                    response = client.get("/portal/catalog", params={**params, "lang": "en"})
                    assert response.status_code == 200 and "Offerings 1 to" in response.text

                return run

            rows = [
                ("ledger page 3 (verify all)", ledger_page, "ledger.verify", verify_only),
                ("catalog browse", catalog_page({}), "catalog.search", search_only(SearchQuery(limit=10))),
                (
                    "catalog 'traces' + facet",
                    catalog_page({"q": "traces", "data_category": "learning_traces"}),
                    "catalog.search",
                    search_only(SearchQuery(text="traces", data_category=DataCategory.LEARNING_TRACES, limit=10)),
                ),
            ]
            print(f"\n{'page':<30} {'median ms':>10} {'baseline':<16} {'median ms':>10} {'ratio':>7}")
            for name, action, baseline_name, baseline in rows:
                page_ms = median_time(action, args.rounds) * 1000
                base_ms = median_time(baseline, args.rounds) * 1000
                print(f"{name:<30} {page_ms:>10.1f} {baseline_name:<16} {base_ms:>10.1f} {page_ms / base_ms:>7.2f}")


if __name__ == "__main__":
    main()
