"""Benchmark of the LRS: batch ingest against Ralph and raw inserts, queries over 1,000,000 statements.

Run with `./dev bench lrs` (or `python bench/lrs.py [--backend sqlite|postgresql|both]
[--statements 1000000] [--batches 30]`). Statements are built from the 22,000 real ones in
`shared/data/xapi/ralph-statements.json.gz` (their verbs, objects, contexts and results), each
with a fresh UUID and an account actor drawn from a pool of 10,000 learners, a few of them much
more active than most. In one run, per backend (a fresh SQLite file, or a fresh schema on
PostgreSQL, dropped after), it:

1. starts `dases lrs serve` (uvicorn, one process) and POSTs `--batches` batches of 1,000
   statements to /xapi/statements with httpx (bodies serialised beforehand), one warm-up batch
   first; statements/s per batch, client-side, median;
2. interleaved batch by batch with those POSTs, inserts the same statements' JSON texts into a
   plain table (id text primary key, document text) of the same database through the same
   engine settings: one DBAPI executemany per 1,000 rows, one commit each. The storage ceiling;
3. loads the store up to `--statements` (default 1,000,000) in process, through the LRS's own
   validation and `dases.lrs.service.store_statements` (5,000 a transaction), with `stored`
   times spread over the last 30 days, then ANALYZE on PostgreSQL, as its autovacuum would soon
   do (on SQLite only with `--sqlite-analyze`: nothing runs it there in production);
4. sends 1,000 GET /xapi/statements?agent=...&verb=...&since=...&limit=... for agent/verb pairs
   drawn from the stored statements (so active learners are asked about more often) and `since`
   1 to 14 days back; latency p50 / p95, client-side, on loopback.

Once per run, before the backends: the baseline Ralph LRS (PyPI `ralph-malph[lrs]`, in its own
virtual environment `bench/.venvs/ralph`, created on first use) validates the same POST bodies
as its POST /xAPI/statements does before storing them (`bench/lrs_ralph_validate.py`):
statements/s per batch, median of several rounds.

Targets: ingest >= 3x Ralph's validation-only rate and >= 50 % of the raw insert ceiling;
GET p95 < 50 ms with 1,000,000 statements stored.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth import free_port, fresh_database

from dases.db import Database

HERE = Path(__file__).resolve().parent
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "xapi" / "ralph-statements.json.gz"
RALPH_VENV = HERE / ".venvs" / "ralph"
#: Ralph's LRS extra, plus `requests`, which `ralph.api` imports but the extra does not pull in.
RALPH_REQUIREMENTS = ["ralph-malph[lrs]==5.1.0", "requests"]
RALPH_SCRIPT = HERE / "lrs_ralph_validate.py"
POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
USER, PASSWORD = "bench", "bench-secret-0123456789"
HEADERS = {"X-Experience-API-Version": "1.0.3"}
HOME_PAGE = "http://fun-mooc.fr"  # the account home page of the real statements
BATCH = 1000
LOAD_BATCH = 5000
STORED_DAYS = 30
AGENTS = 10_000
#: Activity skew: the learner of a statement is AGENTS * random() ** SKEW, so the most active
#: learners have thousands of statements among 1,000,000 and the least active a few dozen.
SKEW = 1.6


class StatementStream:
    """Statements built from the real ones, deterministic for a seed; remembers the (agent, verb)
    of each statement it made, to draw queries that match."""

    def __init__(self, templates: list[str], verbs: list[str], template_verbs: list[int], agents: list[str], seed: int) -> None:
        self.templates, self.verbs, self.template_verbs, self.agents = templates, verbs, template_verbs, agents
        self.rng = random.Random(seed)
        self.agent_of = array("H")
        self.verb_of = array("B")

    def batch(self, size: int) -> list[dict[str, Any]]:
        rng, statements = self.rng, []
        for _ in range(size):
            index = rng.randrange(len(self.templates))
            agent = min(int(len(self.agents) * rng.random() ** SKEW), len(self.agents) - 1)
            statement = json.loads(self.templates[index])
            statement["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            statement["actor"] = {"objectType": "Agent", "account": {"homePage": HOME_PAGE, "name": self.agents[agent]}}
            statements.append(statement)
            self.agent_of.append(agent)
            self.verb_of.append(self.template_verbs[index])
        return statements


@dataclass
class Corpus:
    templates: list[str]
    verbs: list[str]
    template_verbs: list[int]
    agents: list[str]

    @classmethod
    def load(cls, path: Path) -> Corpus:
        if not path.is_file():
            raise SystemExit(f"the statements corpus is missing: {path}")
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            templates = [line.strip() for line in handle if line.strip()]
        verb_ids = [json.loads(text)["verb"]["id"] for text in templates]
        verbs = sorted(set(verb_ids))
        rng = random.Random(3)
        agents = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(AGENTS)]
        return cls(templates, verbs, [verbs.index(v) for v in verb_ids], agents)

    def stream(self, seed: int) -> StatementStream:
        return StatementStream(self.templates, self.verbs, self.template_verbs, self.agents, seed)


def encode(statements: list[dict[str, Any]]) -> bytes:
    return json.dumps(statements, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# Ralph


def ralph_python() -> Path:
    """Ralph's interpreter, installing Ralph in its own virtual environment on first use."""
    python = RALPH_VENV / "bin" / "python"
    stamp = RALPH_VENV / (".installed-" + "-".join(RALPH_REQUIREMENTS).replace("[", "_").replace("]", "_").replace("=", "_"))
    if python.exists() and stamp.exists():
        return python
    print(f"installing {' '.join(RALPH_REQUIREMENTS)} in {RALPH_VENV} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(RALPH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *RALPH_REQUIREMENTS], check=True)
    stamp.touch()
    return python


def bench_ralph(bodies: list[bytes], rounds: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "ralph-batches.jsonl"
    path.write_bytes(b"\n".join(bodies) + b"\n")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("RALPH_", "PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(ralph_python()), str(RALPH_SCRIPT), str(path), "--rounds", str(rounds)],
        cwd=tmp, env={**environment, "RALPH_RUNSERVER_BACKEND": "fs"}, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Ralph baseline failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout)
    per_batch = result["statements"] // len(bodies)
    for kind in ("lax", "es_keys", "strict"):
        result[f"{kind}_rate"] = per_batch / statistics.median(result[kind])
    return result


# ---------------------------------------------------------------------------------------------
# One backend


@dataclass
class Figures:
    backend: str
    ingest: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    loaded: int = 0
    stored: int = 0
    latencies: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    truncated: int = 0
    limit: int = 0
    analyzed: str = ""


class LrsServer:
    """`dases lrs serve` on a free loopback port, its output kept in a log file."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.log_path = data_dir / "lrs-serve.log"
        self.log = self.log_path.open("wb")
        env = {
            **os.environ,
            "DASES_LRS_BASIC_AUTH": f"{USER}:{PASSWORD}",
            "DASES_DATABASE_URL": url,
            "DASES_DATA_DIR": str(data_dir),
            "DASES_LOG_LEVEL": "warning",
            "PYTHONWARNINGS": "ignore",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dases", "lrs", "serve", "--port", str(self.port)], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/xapi", auth=(USER, PASSWORD), headers=HEADERS, timeout=120)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"`dases lrs serve` exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if self.client.get("/about").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`dases lrs serve` did not answer /xapi/about within 60 s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, size: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def check(self, response: httpx.Response, what: str) -> None:
        if response.status_code >= 300:
            raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:2000]}\nserver log:\n{self.tail()}")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


RAW_TABLE = "bench_raw_statement"


def raw_insert(db: Database, statements: list[dict[str, Any]]) -> float:
    """Seconds to insert the statements' JSON texts into the plain table, one commit."""
    marker = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    rows = [(statement["id"], json.dumps(statement, separators=(",", ":"))) for statement in statements]
    connection = db.engine.raw_connection()
    try:
        start = time.perf_counter()
        cursor = connection.cursor()
        cursor.executemany(f"INSERT INTO {RAW_TABLE} (id, document) VALUES ({marker}, {marker})", rows)
        connection.commit()
        elapsed = time.perf_counter() - start
        cursor.close()
    finally:
        connection.close()
    return elapsed


def load(db: Database, stream: StatementStream, count: int, until: datetime) -> None:
    """`count` statements stored in process the way `dases lrs import` stores them (validated,
    5,000 a transaction), their `stored` times ascending over the STORED_DAYS before `until`."""
    from dases.lrs import service, validation
    from dases.lrs.deps import STANDALONE, LrsCaller

    authority = LrsCaller(store=STANDALONE, version="1.0.3", key=USER, scopes=frozenset({"all"})).authority
    normalise = getattr(validation, "normalise_statement", lambda statement: statement)
    batches = max(1, -(-count // LOAD_BATCH))
    step = timedelta(days=STORED_DAYS) / batches
    done, number = 0, 0
    started = time.perf_counter()
    while done < count:
        size = min(LOAD_BATCH, count - done)
        statements = [normalise(statement) for statement in validation.validate_statements(stream.batch(size), "1.0.3")]
        with db.transaction() as session:
            service.store_statements(session, STANDALONE, statements, authority=authority, version="1.0.3", now=until - timedelta(days=STORED_DAYS) + step * number)
        done += size
        number += 1
        if number % 20 == 0 or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"  loaded {done:,} / {count:,} ({rate:,.0f} statements/s)", flush=True)


def analyze(db: Database, sqlite_too: bool) -> str:
    """ANALYZE after the load on PostgreSQL, as its autovacuum would soon do by itself; on SQLite
    only when asked, since nothing in production runs it there."""
    if db.backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))
        return "ANALYZE"
    if sqlite_too:
        with db.engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))
        return "ANALYZE"
    return "no ANALYZE"


def bench_backend(
    name: str, server_url: str | None, corpus: Corpus, ingest: list[list[dict[str, Any]]], bodies: list[bytes], args: argparse.Namespace
) -> Figures:
    figures = Figures(backend=name, limit=args.limit)
    with tempfile.TemporaryDirectory(prefix="dases-bench-lrs-") as tmp, fresh_database(server_url, Path(tmp), "lrs") as url:
        db = Database(url)
        server: LrsServer | None = None
        try:
            db.migrate()
            with db.engine.begin() as connection:
                connection.execute(sa.text(f"CREATE TABLE {RAW_TABLE} (id TEXT PRIMARY KEY, document TEXT NOT NULL)"))
            server = LrsServer(url, Path(tmp))
            print(f"{name}: ingest, {len(bodies) - 1} batches of {BATCH:,} POSTed, interleaved with raw inserts ...", flush=True)
            for index, (statements, body) in enumerate(zip(ingest, bodies, strict=True)):
                raw_seconds = raw_insert(db, statements)
                start = time.perf_counter()
                response = server.client.post("/statements", content=body, headers={"Content-Type": "application/json"})
                seconds = time.perf_counter() - start
                server.check(response, f"POST /xapi/statements (batch {index})")
                if len(response.json()) != len(statements):
                    raise RuntimeError(f"POST /xapi/statements answered {len(response.json())} ids for {len(statements)} statements")
                if index:  # batch 0 warms both paths up
                    figures.ingest.append(len(statements) / seconds)
                    figures.raw.append(len(statements) / raw_seconds)
            with db.engine.begin() as connection:
                connection.execute(sa.text(f"DROP TABLE {RAW_TABLE}"))

            posted = sum(map(len, ingest))
            stream = corpus.stream(seed=2)
            figures.loaded = max(0, args.statements - posted)
            print(f"{name}: loading {figures.loaded:,} more statements in process (validate + store_statements) ...", flush=True)
            started = time.perf_counter()
            load(db, stream, figures.loaded, until=datetime.now(UTC) - timedelta(minutes=1))
            figures.analyzed = analyze(db, args.sqlite_analyze)
            figures.load_seconds = time.perf_counter() - started
            from dases.lrs.models import Statement

            with db.engine.connect() as connection:
                figures.stored = connection.execute(sa.select(sa.func.count()).select_from(Statement)).scalar_one()

            figures.latencies, figures.rows, figures.truncated = bench_queries(server, corpus, ingest, stream, args)
        finally:
            if server is not None:
                server.stop()
            db.dispose()
    return figures


def bench_queries(
    server: LrsServer, corpus: Corpus, ingest: list[list[dict[str, Any]]], stream: StatementStream, args: argparse.Namespace
) -> tuple[list[float], list[int], int]:
    """Client-side seconds of GETs with agent + verb + since, rows returned, pages cut by limit."""
    rng = random.Random(17)
    ingest_pairs = [(corpus.agents.index(s["actor"]["account"]["name"]), corpus.verbs.index(s["verb"]["id"])) for s in ingest[0][:200]]
    total = len(stream.agent_of)
    now = datetime.now(UTC)
    latencies, rows, truncated = [], [], 0
    warmup = 50
    print(f"{server.client.base_url}: {args.gets:,} GETs (agent + verb + since, limit={args.limit}) ...", flush=True)
    for number in range(warmup + args.gets):
        if total:
            position = rng.randrange(total)
            agent, verb = stream.agent_of[position], stream.verb_of[position]
        else:
            agent, verb = rng.choice(ingest_pairs)
        since = now - timedelta(days=rng.uniform(1, 14))
        params = {
            "agent": json.dumps({"objectType": "Agent", "account": {"homePage": HOME_PAGE, "name": corpus.agents[agent]}}, separators=(",", ":")),
            "verb": corpus.verbs[verb],
            "since": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "limit": str(args.limit),
        }
        start = time.perf_counter()
        response = server.client.get("/statements", params=params)
        elapsed = time.perf_counter() - start
        server.check(response, f"GET /xapi/statements {params}")
        if number >= warmup:
            latencies.append(elapsed)
            answer = response.json()
            rows.append(len(answer["statements"]))
            truncated += bool(answer.get("more"))
    return latencies, rows, truncated


# ---------------------------------------------------------------------------------------------
# Report


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(figures: Figures, ralph: dict[str, Any], args: argparse.Namespace) -> bool:
    ingest, raw = statistics.median(figures.ingest), statistics.median(figures.raw)
    p50, p95 = percentile(figures.latencies, 0.50) * 1e3, percentile(figures.latencies, 0.95) * 1e3
    lax = ralph["lax_rate"]
    to_ralph, to_raw = ingest / lax, ingest / raw
    checks = (to_ralph >= 3, to_raw >= 0.5, p95 < 50)
    rows = sorted(figures.rows)
    print()
    print(f"== {figures.backend}: {figures.stored:,} statements stored ==")
    width = 64
    print(f"  {'figure':<{width}} {'value':>16}  {'ratio / target':<26} result")
    print(f"  {'ingest: POST /xapi/statements, 1,000 a batch, median of ' + str(len(figures.ingest)):<{width}} {ingest:>10,.0f} st/s")
    print(f"  {'baseline: Ralph ' + ralph['versions']['ralph-malph'] + ' POST validation only (LaxStatement)':<{width}} {lax:>10,.0f} st/s  "
          f"{'ingest / Ralph ' + format(to_ralph, '.2f') + 'x (>= 3x)':<26} {verdict(checks[0])}")
    print(f"  {'baseline: raw insert (id, document), executemany, commit / 1,000':<{width}} {raw:>10,.0f} st/s  "
          f"{'ingest / raw ' + format(100 * to_raw, '.0f') + ' % (>= 50 %)':<26} {verdict(checks[1])}")
    print(f"  {'GET agent + verb + since, ' + format(len(figures.latencies), ',') + ' calls, p50 / p95':<{width}} {format(p50, '.1f') + ' / ' + format(p95, '.1f'):>13} ms  "
          f"{'p95 < 50 ms':<26} {verdict(checks[2])}")
    print(f"  info: Ralph with its default backend's Elasticsearch key check {ralph['es_keys_rate']:,.0f} st/s; "
          f"`ralph validate -f xapi` strict models {ralph['strict_rate']:,.0f} st/s "
          f"({ralph['strict_valid']:,} of {ralph['statements']:,} statements pass them)")
    print(f"  info: ingest batches min / max {min(figures.ingest):,.0f} / {max(figures.ingest):,.0f} st/s; "
          f"raw insert min / max {min(figures.raw):,.0f} / {max(figures.raw):,.0f} st/s")
    if figures.loaded:
        print(f"  info: {figures.loaded:,} statements loaded in process (validate + store_statements, {LOAD_BATCH:,} a transaction) "
              f"and {figures.analyzed} in {figures.load_seconds:.0f} s ({figures.loaded / figures.load_seconds:,.0f} statements/s)")
    print(f"  info: rows returned per GET: median {statistics.median(rows):.0f}, p95 {percentile(rows, 0.95):.0f}, max {rows[-1]}, "
          f"{sum(1 for r in rows if r == 0)} empty; {figures.truncated} pages cut at limit={figures.limit}; "
          f"latency max {max(figures.latencies) * 1e3:.1f} ms")
    return all(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--statements", type=int, default=1_000_000, help="statements stored for the GET latency")
    parser.add_argument("--batches", type=int, default=30, help="POSTs of 1,000 statements timed (after one warm-up)")
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=1000, help="the GETs' limit parameter (default: the LRS's maximum page)")
    parser.add_argument("--sqlite-analyze", action="store_true", help="run ANALYZE on SQLite too after the load (nothing runs it in production)")
    parser.add_argument("--ralph-rounds", type=int, default=5)
    parser.add_argument("--postgresql-url", default=POSTGRESQL_URL)
    args = parser.parse_args(argv)
    # Termination by a signal still stops the server and drops the schema (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    corpus = Corpus.load(CORPUS)
    stream = corpus.stream(seed=1)
    ingest = [stream.batch(BATCH) for _ in range(args.batches + 1)]
    bodies = [encode(batch) for batch in ingest]
    backends = [("SQLite", None), ("PostgreSQL", args.postgresql_url)]
    backends = [b for b in backends if args.backend in ("both", b[0].lower())]

    with tempfile.TemporaryDirectory(prefix="dases-bench-ralph-") as tmp:
        print(f"Ralph baseline: validating the same {args.batches} POST bodies, {args.ralph_rounds} rounds ...", flush=True)
        ralph = bench_ralph(bodies[1:], args.ralph_rounds, Path(tmp))
    print(f"  Ralph {ralph['versions']['ralph-malph']} (pydantic {ralph['versions']['pydantic']}, Python {ralph['python']}): "
          f"{ralph['lax_rate']:,.0f} statements/s validated as its LRS's POST does", flush=True)

    passed = []
    for name, server_url in backends:
        # The ingest statements are POSTed as they are: each backend gets copies.
        copies = [json.loads(body) for body in bodies]
        figures = bench_backend(name, server_url, corpus, copies, bodies, args)
        passed.append(report(figures, ralph, args))
        print(flush=True)
    print(f"Same machine, same run; statements built from {len(corpus.templates):,} real ones, {AGENTS:,} learners; "
          f"the GETs' limit={args.limit}.")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
