"""Benchmark of learner skills profiles and training recommendations, against reading the
learner's statements alone.

Run with `python bench/learner_skills.py [--learners 200] [--per-learner 100]` (SQLite in a
temporary directory; `--database-url postgresql+psycopg://...` for PostgreSQL, on an empty
schema). In one run it:

1. stores `learners x per-learner` statements in one participant's LRS (a third of them failed,
   so they prove nothing), aligns 500 activities with real ESCO skills of the web developer
   occupation and publishes 200 trainings teaching some of them;
2. times, `--rounds` times each, alternately: the baseline (the learner's statements read
   through the LRS query and parsed: what any profile must do at least), the skills profile,
   and a recommendation for web developer (profile + gap + catalog match);
3. prints the median of each and its ratio to the baseline.

ESCO is loaded once before timing (it is loaded once per node, not per request).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dases.catalog import service as catalog
from dases.catalog.models import OfferingIn
from dases.db import Database
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.interop import alignments, learner_skills, recommend
from dases.interop.esco import Esco, default_esco_dir
from dases.interop.models import AlignmentIn
from dases.lrs import service as lrs
from dases.lrs.agents import agent_key

WEB_DEVELOPER = "http://data.europa.eu/esco/occupation/c40a2919-48a9-40ea-b506-1f34f693496d"
HOME = "https://lms.bench.example/course/"
VERBS = ["completed", "passed", "failed"]


def learner(number: int) -> dict[str, str]:
    return {"objectType": "Agent", "mbox": f"mailto:learner{number}@bench.example"}


def populate(db: Database, esco: Esco, learners: int, per_learner: int, rng: random.Random) -> None:
    skills = sorted(r.skill_uri for r in esco.occupation_skills(WEB_DEVELOPER))
    with db.transaction() as session:
        identity.create_participant(session, KeySealer(b"bench-node-secret-0123456789"), "http://127.0.0.1:1", "edtech-a", "EdTech A")
        items = [AlignmentIn(activity_id=f"{HOME}{n}", skill_uri=rng.choice(skills)) for n in range(500)]
        alignments.declare(session, "edtech-a", items, esco)
        for n in range(200):
            taught = rng.sample(skills, 5)
            draft = OfferingIn(kind="training", title=f"Training {n}", description="A course.", contains_pii=False,
                               policy={"permission": [{"action": "use"}]}, skills=taught)
            catalog.publish(session, "edtech-a", draft)
    authority = {"objectType": "Agent", "account": {"homePage": "urn:dases:lrs", "name": "bench"}}
    for number in range(learners):
        batch = []
        for _ in range(per_learner):
            verb = rng.choice(VERBS)
            statement = {
                "id": str(uuid.uuid4()),
                "actor": learner(number),
                "verb": {"id": "http://adlnet.gov/expapi/verbs/" + verb},
                "object": {"objectType": "Activity", "id": f"{HOME}{rng.randrange(1000)}"},
                "result": {"success": verb != "failed", "score": {"scaled": round(rng.random(), 2)}},
                "timestamp": "2026-03-01T10:00:00Z",
            }
            batch.append(statement)
        with db.transaction() as session:
            lrs.store_statements(session, "edtech-a", batch, authority=authority, version="1.0.3")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--per-learner", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    esco = Esco.load(default_esco_dir())
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(args.database_url or f"sqlite:///{Path(scratch) / 'bench.sqlite3'}")
        db.migrate()
        started = time.perf_counter()
        populate(db, esco, args.learners, args.per_learner, rng)
        print(f"{args.learners * args.per_learner} statements, 500 alignments, 200 trainings stored in "
              f"{time.perf_counter() - started:.1f} s ({db.backend})")

        def baseline(agent: dict[str, str]) -> None:
            with db.transaction() as session:
                query = lrs.StatementQuery(agent=agent_key(agent), ascending=True)
                for document in lrs.iter_statements(session, "edtech-a", query):
                    json.loads(document)

        def profile(agent: dict[str, str]) -> None:
            with db.transaction() as session:
                learner_skills.learner_profile(session, "edtech-a", agent, esco)

        def recommendation(agent: dict[str, str]) -> None:
            with db.transaction() as session:
                found = learner_skills.learner_profile(session, "edtech-a", agent, esco)
                recommend.recommend(session, found, WEB_DEVELOPER, esco)

        timings: dict[str, list[float]] = {"baseline": [], "profile": [], "recommendation": []}
        tasks: dict[str, Callable[[dict[str, str]], None]] = {"baseline": baseline, "profile": profile, "recommendation": recommendation}
        for round_number in range(args.rounds):
            agent = learner(round_number % args.learners)
            for name, task in tasks.items():
                began = time.perf_counter()
                task(agent)
                timings[name].append(time.perf_counter() - began)
        db.dispose()
    base = median_ms(timings["baseline"])
    print(f"per learner: {args.per_learner} statements, medians of {args.rounds} rounds")
    for name, samples in timings.items():
        print(f"  {name:<15} {median_ms(samples):8.2f} ms   x{median_ms(samples) / base:.2f} of the baseline")


if __name__ == "__main__":
    main()
