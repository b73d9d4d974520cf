"""Benchmark of the privacy tools: pseudonyms per second, k-anonymity on a million rows, the
generalisation to k = 5, and anonypyx's Mondrian on the same 30,000 rows as the baseline.

Run with `.venv/bin/python bench/privacy.py` (one command; `--help` for the options). Each figure
is the median of `--runs` runs (Mondrian: `--mondrian-runs`), with its baseline measured in the
same run:

1. pseudonyms/s: `Pseudonymiser` (HMAC-SHA256, key pads precomputed, see
   `dases.privacy.pseudonyms`) over 1,000,000 identifiers, against the standard library's
   `hmac.digest` per identifier giving the very same pseudonyms; also under key version 3 (two
   rotations: three chained HMACs per identifier). Target: >= 1,000,000/s on one core.
   Then end to end: a provider's signed `POST /participants/operator/pseudonyms/{domain}` with
   batches of 100,000 identifiers to a node on loopback (SQLite), against the service's own
   computation of the same batches.
2. k-anonymity check of 1,000,000 rows (OULAD studentInfo rows resampled with replacement, the
   six quasi-identifiers), against plain-Python counting in a dict. Target: < 1 s.
   l-diversity and t-closeness on the same rows are reported alongside.
3. the least-loss full-domain generalisation to k = 5 (and k = 50) of those 1,000,000 rows:
   time, levels, suppressed rows and NCP loss. Resampled rows repeat OULAD's combinations (each
   about 500 times), so k = 5 and 50 hold untouched; the same figures follow on a "scrambled"
   million (each column resampled on its own: rare combinations appear), plus local recoding
   (`dases.privacy.local`) of the scrambled million.
4. the same 30,000 resampled rows anonymised to k = 5 by ours (full-domain with and without
   suppression, and local recoding) and by anonypyx's Mondrian (run in its own virtual
   environment, `bench/.venvs/anonypyx`, created on first use): the time ratios and the NCP
   losses, all computed by the same formula here. Mondrian recodes locally and may merge any
   values ("London Region,Wales"); ours stay within the declared hierarchies. With `pycanon` in
   that environment, it re-checks k and l of our released rows independently.

Results also go to bench/results/privacy.json.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from dases.app import create_app
from dases.identity import service as identity
from dases.identity.client import signed_client
from dases.privacy import service as privacy
from dases.privacy.anonymity import generalise, k_anonymity, l_diversity, t_closeness
from dases.privacy.hierarchies import (
    OULAD_FINAL_RESULT_ORDER,
    OULAD_HIERARCHIES,
    OULAD_QUASI_IDENTIFIERS,
    oulad_hierarchies,
)
from dases.privacy.local import specialise
from dases.privacy.pseudonyms import Pseudonymiser
from dases.registry.models import Member
from dases.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
STUDENT_INFO = ROOT.parent / "shared" / "data" / "oulad" / "studentInfo.csv"
ANONYPYX_VENV = ROOT / "bench" / ".venvs" / "anonypyx"
RESULTS = ROOT / "bench" / "results" / "privacy.json"
QIS = list(OULAD_QUASI_IDENTIFIERS)

MONDRIAN = r"""
import json, sys, time
import pandas as pd
from anonypyx import Anonymiser
source, target, k, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
qis = json.loads(sys.argv[5])
df = pd.read_csv(source, dtype=str, keep_default_na=False)
for column in qis + ["final_result"]:
    df[column] = df[column].astype("category")
times = []
for _ in range(runs):
    started = time.perf_counter()
    out = Anonymiser(df, k=k, feature_columns=qis, sensitive_column="final_result", generalisation_strategy="human-readable").anonymise()
    times.append(time.perf_counter() - started)
out.to_csv(target, index=False)
print(json.dumps(times))
"""

PYCANON = r"""
import json, sys
import pandas as pd
from pycanon import anonymity
df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
print(json.dumps({"k": int(anonymity.k_anonymity(df, json.loads(sys.argv[2]))),
                  "l": int(anonymity.l_diversity(df, json.loads(sys.argv[2]), ["final_result"]))}))
"""


@dataclass(frozen=True)
class Timing:
    """Median wall-clock and CPU seconds of one figure's runs, and the last run's result. On a
    shared, loaded machine the CPU seconds of single-threaded work show what a free core takes
    (Polars work is multi-threaded: its CPU seconds add up over threads, read its wall time)."""

    wall: float
    cpu: float
    result: Any


def timed(function: Callable[[], Any], runs: int) -> Timing:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - started_cpu)
    return Timing(statistics.median(walls), statistics.median(cpus), result)


def ensure_anonypyx() -> Path | None:
    python = ANONYPYX_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {ANONYPYX_VENV} (anonypyx, pycanon)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ANONYPYX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "anonypyx", "pycanon"], check=True)
    return python if python.exists() else None


def bench_pseudonyms(runs: int) -> dict[str, float]:
    identifiers = [f"learner-{n:07d}" for n in range(1_000_000)]
    keys = [os.urandom(32) for _ in range(3)]
    ours = Pseudonymiser("bench-study", keys[:1])
    prefix = b"\x01" + bytes([len("bench-study")]) + b"bench-study"

    def stdlib() -> list[str]:
        key = keys[0]
        return ["ps1_" + hmac.digest(key, prefix + identifier.encode(), "sha256")[:16].hex() for identifier in identifiers]

    fast = timed(lambda: ours.pseudonymise(identifiers), runs)
    base = timed(stdlib, runs)
    assert fast.result == base.result, "the fast path must give the very pseudonyms HMAC gives"
    chained = timed(lambda: Pseudonymiser("bench-study", keys).pseudonymise(identifiers), runs)
    n = len(identifiers)
    return {
        "pseudonyms_per_s": n / fast.wall,
        "pseudonyms_per_cpu_s": n / fast.cpu,
        "stdlib_hmac_per_s": n / base.wall,
        "stdlib_hmac_per_cpu_s": n / base.cpu,
        "speedup_vs_stdlib": base.wall / fast.wall,
        "pseudonyms_per_s_version_3": n / chained.wall,
        "pseudonyms_per_cpu_s_version_3": n / chained.cpu,
    }


def bench_http(batches: int, batch: int = 100_000) -> dict[str, float]:
    """Signed batch calls to a node in this process (uvicorn in a thread, SQLite)."""
    import uvicorn

    with tempfile.TemporaryDirectory() as scratch, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = Settings(port=port, data_dir=Path(scratch), database_url=f"sqlite:///{scratch}/node.sqlite3",
                            node_secret="bench-node-secret-0123456789", governance_authority="operator")
        app = create_app(settings)
        node = app.state.node
        with node.db.transaction() as session:
            operator = identity.create_participant(session, node.sealer, settings.base_url, "operator", "Operator").did
            school = identity.create_participant(session, node.sealer, settings.base_url, "school", "School").did
            session.add(Member(id=str(uuid.uuid4()), did=school, legal_name="School", registration_number="1", country="FR",
                               roles=["data_provider"], status="active"))
            sealer = privacy.DomainKeySealer(settings.resolved_node_secret())
            privacy.create_domain(session, sealer, "bench-study", "Bench")
            privacy.admit(session, "bench-study", school)
        with node.db.transaction() as session:
            signer = identity.signer_for(session, node.sealer, "school")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            chunks = [[f"learner-{n:07d}" for n in range(start, start + batch)] for start in range(0, batches * batch, batch)]
            walls, direct = [], []
            with signed_client(signer, operator, base_url=settings.base_url, timeout=120) as client:
                # The first call resolves the caller's DID document: not part of the steady rate.
                assert client.post("/participants/operator/pseudonyms/bench-study", json={"identifiers": ["warm-up"]}).status_code == 200
                for chunk in chunks:
                    started = time.perf_counter()
                    response = client.post("/participants/operator/pseudonyms/bench-study", json={"identifiers": chunk})
                    walls.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                    with node.db.transaction() as session:
                        engine = privacy.pseudonymiser(session, sealer, "bench-study")
                    started = time.perf_counter()
                    expected = engine.pseudonymise(chunk)
                    direct.append(time.perf_counter() - started)
                    assert response.json()["pseudonyms"] == expected
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    return {
        "http_batch": batch,
        "http_pseudonyms_per_s": batch / statistics.median(walls),
        "service_pseudonyms_per_s": batch / statistics.median(direct),
        "http_over_service": statistics.median(walls) / statistics.median(direct),
        "http_walls": walls,
    }


def independent_k(frame: pl.DataFrame) -> int:
    columns = [frame[column].to_list() for column in QIS]
    return min(Counter(zip(*columns, strict=True)).values())


def bench_million(frame: pl.DataFrame, scrambled: pl.DataFrame, runs: int) -> dict[str, Any]:
    check = timed(lambda: k_anonymity(frame, QIS), runs)
    base = timed(lambda: independent_k(frame), max(1, runs // 2))
    assert check.result == base.result
    diversity = timed(lambda: l_diversity(frame, QIS, "final_result"), runs)
    closeness = timed(lambda: t_closeness(frame, QIS, "final_result", OULAD_FINAL_RESULT_ORDER), runs)
    out: dict[str, Any] = {
        "rows": frame.height,
        "k_check_s": check.wall,
        "k": check.result,
        "k_check_python_dict_s": base.wall,
        "k_check_speedup": base.wall / check.wall,
        "l_diversity_s": diversity.wall,
        "l": diversity.result,
        "t_closeness_s": closeness.wall,
        "t": closeness.result,
    }
    for name, data in (("resampled", frame), ("scrambled", scrambled)):
        for target in (5, 50):
            run = timed(lambda data=data, target=target: generalise(data, oulad_hierarchies(), target), runs)
            assert k_anonymity(run.result.frame, QIS) >= target
            out[f"generalise_{name}_k{target}_s"] = run.wall
            out[f"generalise_{name}_k{target}"] = run.result.report()
    for target in (5, 50):
        run = timed(lambda target=target: specialise(scrambled, oulad_hierarchies(), target), runs)
        assert k_anonymity(run.result.frame, QIS) >= target
        out[f"local_scrambled_k{target}_s"] = run.wall
        out[f"local_scrambled_k{target}"] = run.result.report()
    return out


def ncp_of_sets(frame: pl.DataFrame, weights: pl.Series | None = None) -> float:
    """NCP of a table whose cells hold comma-joined sets of original values (Mondrian's
    human-readable output), or single values or hierarchy labels (ours)."""
    total, cells = 0.0, 0
    weight = weights.to_list() if weights is not None else [1] * frame.height
    for column in QIS:
        table = OULAD_HIERARCHIES[column]
        domain = len(table)
        cover: dict[str, int] = {}
        for level in range(len(table[0])):
            per_label = Counter(row[level] for row in table)
            for label, count in per_label.items():
                cover.setdefault(label, count)
        for value, w in zip(frame[column].to_list(), weight, strict=True):
            size = len(value.split(",")) if value not in cover else cover[value]
            total += w * (size - 1) / (domain - 1)
        cells += sum(weight)
    return total / cells


def bench_mondrian(sample: pl.DataFrame, runs: int, mondrian_runs: int, python: Path | None) -> dict[str, Any]:
    suppressing = timed(lambda: generalise(sample, oulad_hierarchies(), 5), runs)
    strict_run = timed(lambda: generalise(sample, oulad_hierarchies(), 5, max_suppression=0.0), runs)
    ours_s, ours, strict_s, strict = suppressing.wall, suppressing.result, strict_run.wall, strict_run.result
    local_run = timed(lambda: specialise(sample, oulad_hierarchies(), 5), runs)
    out: dict[str, Any] = {
        "rows": sample.height,
        "ours_s": ours_s,
        "ours_loss": ours.loss,
        "ours_suppressed": ours.suppressed,
        "ours_levels": ours.levels,
        "ours_no_suppression_s": strict_s,
        "ours_no_suppression_loss": strict.loss,
        "ours_no_suppression_levels": strict.levels,
        "local_s": local_run.wall,
        "local_loss": local_run.result.loss,
        "local_partitions": local_run.result.partitions,
    }
    if python is None:
        return out
    with tempfile.TemporaryDirectory() as scratch:
        source, target, released = Path(scratch, "in.csv"), Path(scratch, "out.csv"), Path(scratch, "ours.csv")
        sample.select([*QIS, "final_result"]).write_csv(source)
        run = subprocess.run([str(python), "-c", MONDRIAN, str(source), str(target), "5", str(mondrian_runs), json.dumps(QIS)],
                             check=True, capture_output=True, text=True)
        times = json.loads(run.stdout.strip().splitlines()[-1])
        mondrian = pl.read_csv(target, infer_schema_length=0)
        counts = mondrian["count"].cast(pl.Int64)
        out.update({
            "mondrian_s": statistics.median(times),
            "mondrian_loss": ncp_of_sets(mondrian, counts),
            "mondrian_rows": int(counts.sum()),
            "ratio_mondrian_over_ours": statistics.median(times) / ours_s,
            "ratio_mondrian_over_ours_no_suppression": statistics.median(times) / strict_s,
            "ratio_mondrian_over_local": statistics.median(times) / local_run.wall,
        })
        for name, release in (("pycanon_on_ours", strict.frame), ("pycanon_on_local", local_run.result.frame)):
            release.select([*QIS, "final_result"]).write_csv(released)
            check = subprocess.run([str(python), "-c", PYCANON, str(released), json.dumps(QIS)], check=False, capture_output=True, text=True)
            if check.returncode == 0:
                out[name] = json.loads(check.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--mondrian-runs", type=int, default=3, help="runs of anonypyx's Mondrian (about 40 s each)")
    parser.add_argument("--http-batches", type=int, default=10, help="signed HTTP batches of 100,000 identifiers (median)")
    parser.add_argument("--skip-anonypyx", action="store_true", help="leave out the Mondrian baseline")
    args = parser.parse_args()

    base = pl.read_csv(STUDENT_INFO, infer_schema_length=0)
    million = base.sample(1_000_000, with_replacement=True, seed=2026)
    # Each quasi-identifier resampled on its own: the same marginals, but the combinations of
    # a population with rare profiles, so that reaching k takes generalising and suppressing.
    scrambled = pl.DataFrame({column: base[column].sample(1_000_000, with_replacement=True, seed=index) for index, column in enumerate(base.columns)})
    sample = base.sample(30_000, with_replacement=True, seed=30_000)

    results: dict[str, Any] = {"pseudonyms": bench_pseudonyms(args.runs)}
    p = results["pseudonyms"]
    print("(wall-clock medians; per CPU-second in brackets: this machine is shared and loaded)")
    print(f"pseudonyms/s (HMAC-SHA256, 1 thread): {p['pseudonyms_per_s']:>11,.0f}  [{p['pseudonyms_per_cpu_s']:,.0f}]   target >= 1,000,000")
    print(f"  stdlib hmac.digest baseline:        {p['stdlib_hmac_per_s']:>11,.0f}  [{p['stdlib_hmac_per_cpu_s']:,.0f}]   ours x{p['speedup_vs_stdlib']:.1f}")
    print(f"  under key version 3 (2 rotations):  {p['pseudonyms_per_s_version_3']:>11,.0f}  [{p['pseudonyms_per_cpu_s_version_3']:,.0f}]")

    results["http"] = h = bench_http(args.http_batches)
    print(f"signed HTTP batches of {h['http_batch']:,}:     {h['http_pseudonyms_per_s']:>11,.0f}/s   x{h['http_over_service']:.1f} the time of the computation alone ({h['service_pseudonyms_per_s']:,.0f}/s)")

    results["million"] = m = bench_million(million, scrambled, args.runs)
    print(f"k-anonymity check, {m['rows']:,} rows: {m['k_check_s'] * 1000:8.1f} ms (k = {m['k']})   target < 1 s")
    print(f"  plain-Python dict baseline:         {m['k_check_python_dict_s'] * 1000:8.1f} ms   ours x{m['k_check_speedup']:.1f}")
    print(f"  l-diversity {m['l_diversity_s'] * 1000:.1f} ms (l = {m['l']}), t-closeness {m['t_closeness_s'] * 1000:.1f} ms (t = {m['t']:.3f})")
    for name in ("resampled", "scrambled"):
        for target in (5, 50):
            report = m[f"generalise_{name}_k{target}"]
            print(f"generalise {name} 1M rows to k={target:<3} {m[f'generalise_{name}_k{target}_s'] * 1000:8.1f} ms   levels {report['levels']}")
            print(f"  suppressed {report['suppressed']:,}, NCP loss {report['loss']:.4f}, {report['nodes_evaluated']} of {report['lattice_nodes']} lattice nodes evaluated, {report['nodes_reaching_k']} reach k")

    for target in (5, 50):
        report = m[f"local_scrambled_k{target}"]
        print(f"local recoding scrambled 1M to k={target:<3} {m[f'local_scrambled_k{target}_s'] * 1000:8.1f} ms   "
              f"NCP loss {report['loss']:.4f}, {report['partitions']:,} partitions, nothing suppressed")

    python = None if args.skip_anonypyx else ensure_anonypyx()
    results["mondrian"] = mo = bench_mondrian(sample, args.runs, args.mondrian_runs, python)
    print(f"30,000 rows to k=5, ours:            {mo['ours_s'] * 1000:8.1f} ms   NCP {mo['ours_loss']:.4f}, suppressed {mo['ours_suppressed']}")
    print(f"  ours without suppression:          {mo['ours_no_suppression_s'] * 1000:8.1f} ms   NCP {mo['ours_no_suppression_loss']:.4f}")
    print(f"  ours, local recoding:              {mo['local_s'] * 1000:8.1f} ms   NCP {mo['local_loss']:.4f}, suppressed 0")
    if "mondrian_s" in mo:
        print(f"  anonypyx Mondrian (baseline):      {mo['mondrian_s'] * 1000:8.1f} ms   NCP {mo['mondrian_loss']:.4f}, suppressed 0")
        print(f"  ratio Mondrian / ours:             x{mo['ratio_mondrian_over_ours']:.0f} (x{mo['ratio_mondrian_over_ours_no_suppression']:.0f} without suppression, "
              f"x{mo['ratio_mondrian_over_local']:.0f} local recoding)")
    for name, what in (("pycanon_on_ours", "full-domain"), ("pycanon_on_local", "local recoding")):
        if name in mo:
            print(f"  pycanon on our {what} release: k = {mo[name]['k']}, l = {mo[name]['l']}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
