"""Benchmark of the consent check with a million consent records stored.

Run with `./dev bench consent` (or `python bench/consent.py [--database-url postgresql+psycopg://...]`).
It fills a fresh database with `--records` consent records (default 1,000,000: 250,000 learners
x 4 consumers, statuses mixed as on a live service), then measures, interleaved so that noise
hits both alike:

1. the consent check as a connector's request runs it (a fresh session and transaction, the
   indexed lookup, the time comparison), for random learners, hits and misses mixed;
2. the baseline: a primary-key read of one consent record in the same kind of session (a
   prebuilt Core statement, as the check uses), the floor of any check that reads the database.

Then, over HTTP on loopback, the signed `GET /consent/check` call against a node serving that
database, with the signed no-op `/identity/whoami` on the same node as its baseline.

Target: the check's median under 2 ms with 1,000,000 records, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth import NODE_SECRET, free_port, fresh_database, wait_until_healthy

from dases.consent import service
from dases.consent.models import ConsentRecord, Subject
from dases.db import Database
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.identity.tokens import sign_call_token
from dases.registry.models import Member

PURPOSES = [
    "https://w3id.org/dpv/sector/education#StudentPerformanceMonitoring",
    "https://w3id.org/dpv/sector/education#StudentLearningNeedsAssessment",
    "https://w3id.org/dpv#AcademicResearch",
    "https://w3id.org/dpv/sector/education#StudentGuidanceManagement",
]
STATUSES = ["given"] * 6 + ["withdrawn", "requested", "refused", "expired"]
SHARED_DPV = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dpv"


def fill(db: Database, records: int, provider: str, consumers: list[str], batch: int = 20_000) -> list[str]:
    """Bulk-load learners and records; returns the learners' pseudonyms."""
    per_subject = len(consumers)
    subjects = [f"sub_{uuid.uuid4().hex}" for _ in range(records // per_subject)]
    now = datetime.now(UTC)
    rng = random.Random(7)
    with db.engine.begin() as connection:
        for start in range(0, len(subjects), batch):
            connection.execute(
                sa.insert(Subject),
                [
                    {"id": s, "login": s, "password_hash": "-", "display_name": "bench", "birth_date": date(2001, 1, 1), "language": "fr", "created_at": now}
                    for s in subjects[start : start + batch]
                ],
            )
    rows = []
    for subject in subjects:
        for index, consumer in enumerate(consumers):
            status = rng.choice(STATUSES)
            given = status == "given"
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "subject_id": subject,
                    "provider_did": provider,
                    "consumer_did": consumer,
                    "purpose": PURPOSES[index % len(PURPOSES)],
                    "data_categories": ["learning_traces"],
                    "legal_basis": "consent",
                    "status": status,
                    "valid_from": now - timedelta(days=1) if given else None,
                    "valid_until": now + timedelta(days=rng.randint(1, 300)) if given else None,
                    "duration_days": 300,
                    "notice_version": "v1-bench",
                    "notice_terms": {},
                    "event_count": 2,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(rows) == batch:
                with db.engine.begin() as connection:
                    connection.execute(sa.insert(ConsentRecord), rows)
                rows = []
    if rows:
        with db.engine.begin() as connection:
            connection.execute(sa.insert(ConsentRecord), rows)
    if db.backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))
    else:
        with db.engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))
    return subjects


#: The baseline: the cheapest read of one record, built once like the check's own statement.
PRIMARY_KEY_READ = sa.select(ConsentRecord.__table__.c.status).where(ConsentRecord.__table__.c.id == sa.bindparam("id"))


def bench_service(db: Database, subjects: list[str], provider: str, consumers: list[str], checks: int) -> tuple[float, float, int]:
    rng = random.Random(11)
    record_ids = [row[0] for row in db.engine.connect().execute(sa.select(ConsentRecord.id).limit(5000))]
    check_times, floor_times, allowed = [], [], 0
    for _ in range(checks):
        subject = rng.choice(subjects) if rng.random() < 0.9 else f"sub_{uuid.uuid4().hex}"  # 10% unknown learners
        index = rng.randrange(len(consumers))
        start = time.perf_counter()
        with db.transaction() as session:
            result = service.check(session, subject_id=subject, provider_did=provider, consumer_did=consumers[index], purpose=PURPOSES[index])
        check_times.append(time.perf_counter() - start)
        allowed += result.allowed
        record_id = rng.choice(record_ids)
        start = time.perf_counter()
        with db.transaction() as session:
            session.connection().execute(PRIMARY_KEY_READ, {"id": record_id}).first()
        floor_times.append(time.perf_counter() - start)
    return statistics.median(check_times) * 1e3, statistics.median(floor_times) * 1e3, allowed


def participants(db: Database, port: int) -> tuple[str, str]:
    """The operator (consent service) and the provider whose learners' records are stored."""
    base_url = f"http://127.0.0.1:{port}"
    sealer = KeySealer(NODE_SECRET.encode())
    with db.transaction() as session:
        authority = identity.create_participant(session, sealer, base_url, "operator", "Operator")
        provider = identity.create_participant(session, sealer, base_url, "provider", "Provider")
        session.add(Member(id=str(uuid.uuid4()), did=provider.did, legal_name="Provider", registration_number="1", country="FR", roles=["data_provider"], status="active"))
    return authority.did, provider.did


def bench_http(url: str, port: int, authority: str, data_dir: Path, subjects: list[str], consumers: list[str], calls: int) -> tuple[float, float]:
    base_url = f"http://127.0.0.1:{port}"
    db = Database(url)
    with db.transaction() as session:
        signer = identity.signer_for(session, KeySealer(NODE_SECRET.encode()), "provider")
    db.dispose()
    env = {
        **os.environ,
        "DASES_DATABASE_URL": url,
        "DASES_DATA_DIR": str(data_dir),
        "DASES_NODE_SECRET": NODE_SECRET,
        "DASES_GOVERNANCE_AUTHORITY": "operator",
        "DASES_DPV_DIR": str(SHARED_DPV),
        "DASES_CATALOG_CRAWL_SECONDS": "0",
        "PYTHONWARNINGS": "ignore",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "dases.app:create_app", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
    )
    rng = random.Random(13)
    check_times, noop_times = [], []
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            wait_until_healthy(client, 60)
            for index in range(calls + 100):
                consumer = rng.randrange(len(consumers))
                params = {"subject": rng.choice(subjects), "consumer": consumers[consumer], "purpose": PURPOSES[consumer]}
                start = time.perf_counter()
                response = client.get("/consent/check", params=params, headers={"Authorization": f"Bearer {sign_call_token(signer, authority)}"})
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text
                start = time.perf_counter()
                noop = client.get("/identity/whoami", headers={"Authorization": f"Bearer {sign_call_token(signer, authority)}"})
                noop_elapsed = time.perf_counter() - start
                assert noop.status_code == 200, noop.text
                if index >= 100:
                    check_times.append(elapsed)
                    noop_times.append(noop_elapsed)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return statistics.median(check_times) * 1e3, statistics.median(noop_times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=1000, help="signed HTTP checks (0: skip the HTTP part)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file")
    args = parser.parse_args()
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.database_url, Path(tmp), "consent") as url:
        db = Database(url)
        db.migrate()
        port = free_port()
        authority, provider = participants(db, port)
        consumers = [f"did:web:consumer-{n}.example" for n in range(4)]
        started = time.perf_counter()
        subjects = fill(db, args.records, provider, consumers)
        with db.engine.connect() as connection:
            stored = connection.execute(sa.select(sa.func.count()).select_from(ConsentRecord)).scalar_one()
        print(f"{backend}: {stored:,} consent records for {len(subjects):,} learners loaded in {time.perf_counter() - started:.0f} s")
        check_ms, floor_ms, allowed = bench_service(db, subjects, provider, consumers, args.checks)
        print(
            f"consent check ({backend}, {stored:,} records, fresh session per check): median {check_ms:.3f} ms "
            f"(target < 2 ms); baseline primary-key read {floor_ms:.3f} ms; ratio {check_ms / floor_ms:.2f}x; "
            f"{allowed}/{args.checks} allowed"
        )
        db.dispose()
        if args.calls:
            http_ms, noop_ms = bench_http(url, port, authority, Path(tmp), subjects, consumers, args.calls)
            print(
                f"signed HTTP GET /consent/check ({backend}): median {http_ms:.3f} ms; baseline signed no-op "
                f"/identity/whoami on the same node {noop_ms:.3f} ms; ratio {http_ms / noop_ms:.2f}x"
            )


if __name__ == "__main__":
    main()
