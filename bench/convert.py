"""Benchmark of the Open edX converter: events/s against Ralph's `ralph convert`, and flat memory.

Run with `python bench/convert.py [--events 100000] [--rounds 3] [--seed 7]`.

1. Generates `--events` Open edX tracking-log events (`generate_events`): a day of a small LMS,
   with the kinds Ralph (PyPI `ralph-malph`, pinned below) converts to xAPI: server page views,
   `page_close`, `load_video`, `play_video`, `pause_video`, `seek_video`, `stop_video`,
   `edx.course.enrollment.activated` and `deactivated`. A sample is first checked against
   Ralph's own edX models (`ralph validate -f edx`), and every round checks that Ralph converted
   every event: an event Ralph drops would make the comparison unfair.
2. Times, interleaved round by round on the same file, each in a fresh process of its own virtual
   environment reading the file and writing JSON lines: `ralph convert -p HOME -f edx -t xapi`
   (stdin to stdout, redirected to a file) in `bench/.venvs/ralph` (created on first use), and
   `OpenEdxConverter` with `JsonLinesWriter` in this project's interpreter (`python -c`: the
   `dases convert --from openedx` command is the same two calls). Events/s = events / the
   process's wall time, start-up included for both; median of `--rounds`. For information, ours
   again with `full_validation=True` (every statement validated whole, as the tests do), which
   must write the same bytes.
3. Converts a 10x larger log with our converter and compares the peak resident memory of the two
   processes (VmHWM, read by the process itself as it ends): flat means the 10x peak within 10 %
   of the 1x one. Ralph's peak is `ru_maxrss` from `os.wait4`, for information.

Targets: events/s >= 3x Ralph's; peak memory flat when the input grows 10x.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RALPH_VENV = HERE / ".venvs" / "ralph"
#: Ralph's command line needs its `cli` extra (click-option-group), besides the package itself.
RALPH_REQUIREMENT = "ralph-malph[cli]==5.1.0"
HOME_PAGE = "https://lms.example.org"
#: Ralph's statement ids are UUIDv5 in a namespace it must be given (any will do).
RALPH_UUID_NAMESPACE = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
SPEED_TARGET = 3.0
MEMORY_TOLERANCE = 0.10

# -- the generator ------------------------------------------------------------------------------

#: What a day of an LMS logs, among the kinds Ralph converts (page views dominate real logs).
KINDS = (
    ("page_view", 30),
    ("page_close", 8),
    ("load_video", 10),
    ("play_video", 18),
    ("pause_video", 15),
    ("seek_video", 7),
    ("stop_video", 4),
    ("edx.course.enrollment.activated", 5),
    ("edx.course.enrollment.deactivated", 3),
)
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
)
LANGUAGES = ("en-US,en;q=0.9", "fr-FR,fr;q=0.9,en;q=0.8", "de-DE,de;q=0.9", "es-ES,es;q=0.9,en;q=0.5")
MODES = ("audit", "audit", "audit", "honor", "verified")


@dataclass(frozen=True)
class Course:
    org: str
    course_id: str
    chapters: tuple[str, ...]
    sequences: tuple[str, ...]
    videos: tuple[tuple[str, int], ...]  # (block id, duration in seconds)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _courses(rng: random.Random) -> list[Course]:
    courses = []
    for org, number, run in (("DemoX", "CS101", "2024_T1"), ("UnivX", "MATH201", "2024_Spring"), ("EdTechX", "DATA1", "2024"), ("OpenU", "LANG12", "2024_T2")):
        courses.append(Course(
            org=org,
            course_id=f"course-v1:{org}+{number}+{run}",
            chapters=tuple(_hex(rng) for _ in range(6)),
            sequences=tuple(_hex(rng) for _ in range(24)),
            videos=tuple((_hex(rng), rng.randint(90, 1500)) for _ in range(40)),
        ))
    return courses


def generate_events(n: int, seed: int = 7, *, payload_strings: bool = False) -> Iterator[str]:
    """`n` Open edX tracking-log events (one JSON text each), as the LMS writes them, deterministic in `seed`.

    2,000 learners in 4 courses; each event is drawn from `KINDS`, by a learner with their own
    session, browser and IP, under a second after the previous event of the log.

    The LMS writes a browser event's `event` as a JSON string; Ralph 5.1.0's video conversion
    reads it as an object (`event["event"]["id"]`) and fails on the string, although its edX
    models accept both. So video payloads are objects unless `payload_strings` (as some log
    shippers write them): our converter takes either, and the comparison stays fair."""
    rng = random.Random(seed)
    courses = _courses(rng)
    learners = [
        (100_000 + index, f"learner_{index:05d}", _hex(rng), rng.choice(AGENTS), f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(LANGUAGES))
        for index in range(2000)
    ]
    kinds = [kind for kind, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    moment = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)
    host = HOME_PAGE.split("://", 1)[1]
    for _ in range(n):
        moment += timedelta(microseconds=rng.randint(1, 900_000))
        kind = rng.choices(kinds, weights)[0]
        user_id, username, session, agent, ip, language = rng.choice(learners)
        course = rng.choice(courses)
        chapter, sequence = rng.choice(course.chapters), rng.choice(course.sequences)
        courseware = f"{HOME_PAGE}/courses/{course.course_id}/courseware/{chapter}/{sequence}/"
        event: dict[str, Any] = {
            "username": username,
            "ip": ip,
            "agent": agent,
            "host": host,
            "referer": courseware,
            "accept_language": language,
            "time": moment.isoformat(),
        }
        context: dict[str, Any] = {"course_id": course.course_id, "org_id": course.org, "user_id": user_id}
        if kind == "page_view":
            path = rng.choice((
                f"/courses/{course.course_id}/courseware/{chapter}/{sequence}/",
                f"/courses/{course.course_id}/courseware/{chapter}/{sequence}/",
                f"/courses/{course.course_id}/course/",
                f"/courses/{course.course_id}/progress",
                "/dashboard",
            ))
            if not path.startswith("/courses/"):
                context["course_id"] = context["org_id"] = ""
            context["path"] = path
            event.update(event_source="server", event_type=path, event=json.dumps({"GET": {}, "POST": {}}), page=None)
        elif kind.startswith("edx.course.enrollment"):
            context["path"] = "/api/enrollment/v1/enrollment" if rng.random() < 0.7 else "/change_enrollment"
            payload = {"course_id": course.course_id, "mode": rng.choice(MODES), "user_id": user_id}
            event.update(event_source="server", event_type=kind, name=kind, event=payload, page=None, referer=f"{HOME_PAGE}/courses/{course.course_id}/about")
        else:  # browser events: the page, the session, and the payload as a JSON string
            context["path"] = "/event"
            event.update(event_source="browser", event_type=kind, name=kind, page=courseware, session=session)
            if kind == "page_close":
                event["event"] = "{}"
            else:
                video_id, duration = rng.choice(course.videos)
                payload = {"id": video_id, "code": "html5", "duration": duration}
                if kind == "seek_video":
                    payload.update(old_time=round(rng.uniform(0, duration), 3), new_time=round(rng.uniform(0, duration), 3), type=rng.choice(("onSlideSeek", "onSkipSeek")))
                elif kind != "load_video":
                    payload["currentTime"] = round(rng.uniform(0, duration), 3)
                event["event"] = json.dumps(payload) if payload_strings else payload
        event["context"] = context
        yield json.dumps(event)


def write_events(path: Path, n: int, seed: int, *, payload_strings: bool = False) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for line in generate_events(n, seed, payload_strings=payload_strings):
            handle.write(line)
            handle.write("\n")


# -- the two converters, each in a process of its own ---------------------------------------------

OURS = """
import json, sys
from pathlib import Path
from dases.interop.openedx import OpenEdxConverter
from dases.interop.output import JsonLinesWriter
from dases.interop.report import ConversionReport
report = ConversionReport("openedx")
with JsonLinesWriter(Path(sys.argv[2])) as writer:
    for statement in OpenEdxConverter(Path(sys.argv[1]), home_page=sys.argv[3], full_validation=sys.argv[4] == "full").statements(report):
        writer.write(statement)
status = Path("/proc/self/status").read_text()
peak = int(status.split("VmHWM:")[1].split()[0]) if "VmHWM:" in status else 0
print(json.dumps({"converted": report.converted_rows, "skipped": report.skipped_rows, "peak_kib": peak, "reasons": {
    reason: count for table in report.tables.values() for reason, count in table.skipped.items()}}))
"""


@dataclass
class Run:
    seconds: float
    peak_kib: int
    statements: int
    stdout: str


def timed(command: list[str], *, stdin: Path | None = None, stdout: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, int, bytes, bytes]:
    """Wall time, peak resident memory (KiB, of this process alone: `os.wait4`), stdout and stderr of one command.

    stderr goes to a file, not a pipe: Ralph logs a line per event it cannot convert, and a full
    pipe nobody reads would stall it."""
    with tempfile.TemporaryFile() as errors:
        stdin_handle = stdin.open("rb") if stdin else subprocess.DEVNULL
        stdout_handle = stdout.open("wb") if stdout else subprocess.PIPE
        try:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdin=stdin_handle, stdout=stdout_handle, stderr=errors, env=env)
            out = process.stdout.read() if process.stdout else b""
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            for handle in (stdin_handle, stdout_handle):
                if hasattr(handle, "close"):
                    handle.close()  # type: ignore[union-attr]
            if process.stdout:
                process.stdout.close()
        errors.seek(0)
        err = errors.read()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss, out, err


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def digest(path: Path) -> str:
    """A file's SHA-256, read in pieces: this process stays small (see `run_ours`)."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def run_ours(events: Path, output: Path, validation: str = "log-values") -> Run:
    """Our converter in a process of its own; its peak memory is the VmHWM it reads itself at the end:
    `ru_maxrss` would also count this process's own peak, which a child started by (v)fork inherits."""
    seconds, peak, out, _ = timed([sys.executable, "-c", OURS, str(events), str(output), HOME_PAGE, validation])
    return Run(seconds, json.loads(out).get("peak_kib") or peak, count_lines(output), out.decode())


def ralph_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("RALPH_", "PYTHON", "VIRTUAL_ENV"))}


def run_ralph(events: Path, output: Path) -> Run:
    command = [str(RALPH_VENV / "bin" / "ralph"), "convert", "-u", RALPH_UUID_NAMESPACE, "-p", HOME_PAGE, "-f", "edx", "-t", "xapi"]
    seconds, peak, _, err = timed(command, stdin=events, stdout=output, env=ralph_environment())
    return Run(seconds, peak, count_lines(output), err.decode(errors="replace")[-2000:])


def ralph_ready() -> None:
    """Ralph's command line in `bench/.venvs/ralph`: the environment bench/lrs.py shares, created
    here when missing, and given the `cli` extra when it only has the LRS one."""
    python = RALPH_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {RALPH_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(RALPH_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import click_option_group, ralph.cli"], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"installing {RALPH_REQUIREMENT} in {RALPH_VENV} (once) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", RALPH_REQUIREMENT], check=True)


def ralph_validates(events: Path, sample: int, tmp: Path) -> tuple[int, int]:
    """(events of the sample Ralph's edX models accept, sample size): `ralph validate -f edx`."""
    path = tmp / "sample.jsonl"
    with events.open("rb") as source, path.open("wb") as target:
        for index, line in enumerate(source):
            if index == sample:
                break
            target.write(line)
    size = count_lines(path)
    _, _, out, _ = timed([str(RALPH_VENV / "bin" / "ralph"), "validate", "-f", "edx", "-I"], stdin=path, env=ralph_environment())
    return sum(1 for line in out.splitlines() if line.strip()), size


# -- the run ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the log (the memory run uses 10x)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--validate-sample", type=int, default=5000, help="events checked against Ralph's edX models")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args()
    ralph_ready()
    n = args.events
    with tempfile.TemporaryDirectory(prefix="dases-bench-convert-") as name:
        tmp = Path(name)
        events = tmp / "tracking.log"
        started = time.perf_counter()
        write_events(events, n, args.seed)
        size = events.stat().st_size
        print(f"generated {n:,} events ({size / 2**20:.1f} MiB) in {time.perf_counter() - started:.1f} s", flush=True)
        accepted, sample = ralph_validates(events, args.validate_sample, tmp)
        print(f"Ralph's edX models accept {accepted:,} of the {sample:,} first events", flush=True)

        ours: list[Run] = []
        ralph: list[Run] = []
        full: list[Run] = []
        for round_number in range(1, args.rounds + 1):
            ours.append(run_ours(events, tmp / "ours.jsonl"))
            ralph.append(run_ralph(events, tmp / "ralph.jsonl"))
            full.append(run_ours(events, tmp / "ours-full.jsonl", "full"))
            print(f"  round {round_number}: ours {n / ours[-1].seconds:,.0f} events/s ({ours[-1].statements:,} statements), "
                  f"Ralph {n / ralph[-1].seconds:,.0f} events/s ({ralph[-1].statements:,} statements), "
                  f"ours with full validation {n / full[-1].seconds:,.0f} events/s", flush=True)
        same = digest(tmp / "ours.jsonl") == digest(tmp / "ours-full.jsonl")
        summary = json.loads(ours[-1].stdout)
        (tmp / "ours.jsonl").unlink(missing_ok=True)
        (tmp / "ours-full.jsonl").unlink(missing_ok=True)
        (tmp / "ralph.jsonl").unlink(missing_ok=True)

        big = tmp / "tracking-10x.log"
        write_events(big, 10 * n, args.seed)
        large = run_ours(big, tmp / "ours-10x.jsonl")
        print(f"  10x: ours {10 * n / large.seconds:,.0f} events/s ({large.statements:,} statements)", flush=True)

    ours_rate = statistics.median(n / run.seconds for run in ours)
    ralph_rate = statistics.median(n / run.seconds for run in ralph)
    ratio = ours_rate / ralph_rate
    full_rate = statistics.median(n / run.seconds for run in full)
    peak_1x = statistics.median(run.peak_kib for run in ours)
    growth = large.peak_kib / peak_1x - 1
    fair = accepted == sample and all(run.statements == n for run in ralph)
    checks = {"speed": ratio >= SPEED_TARGET, "memory": growth <= MEMORY_TOLERANCE, "fair": fair and same and all(run.statements == n for run in ours)}

    width = 58
    print()
    print(f"Open edX -> xAPI, {n:,} events ({args.rounds} rounds, medians); Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"  {'ours: OpenEdxConverter + JsonLinesWriter':<{width}} {ours_rate:>10,.0f} events/s")
    print(f"  {'baseline: ralph convert (ralph-malph 5.1.0)':<{width}} {ralph_rate:>10,.0f} events/s")
    print(f"  {'ratio ours / Ralph (target >= 3x)':<{width}} {ratio:>10.2f} x        {verdict(checks['speed'])}")
    print(f"  {'  the same ratio round by round':<{width}} {', '.join(f'{r.seconds / o.seconds:.2f}' for o, r in zip(ours, ralph, strict=True)):>10}")
    print(f"  {'info: ours validating every statement whole':<{width}} {full_rate:>10,.0f} events/s  ({full_rate / ralph_rate:.2f}x Ralph; same output: {'yes' if same else 'NO'})")
    print(f"  {f'peak memory, ours, {n:,} events':<{width}} {peak_1x / 1024:>10.1f} MiB")
    print(f"  {f'peak memory, ours, {10 * n:,} events':<{width}} {large.peak_kib / 1024:>10.1f} MiB  {growth:+.1%}  {verdict(checks['memory'])} (flat: within {MEMORY_TOLERANCE:.0%})")
    print(f"  {'peak memory, Ralph, ' + format(n, ',') + ' events (info)':<{width}} {statistics.median(r.peak_kib for r in ralph) / 1024:>10.1f} MiB")
    print(f"  {'every event converted by both; sample valid for Ralph':<{width}} {'yes' if checks['fair'] else 'NO':>10}        {verdict(checks['fair'])}")
    if summary.get("reasons"):
        print(f"  ours skipped: {summary['reasons']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "events": n, "rounds": args.rounds, "ours_events_per_s": ours_rate, "ralph_events_per_s": ralph_rate, "ratio": ratio,
            "ours_seconds": [run.seconds for run in ours], "ralph_seconds": [run.seconds for run in ralph],
            "ours_full_validation_events_per_s": full_rate, "ours_full_validation_seconds": [run.seconds for run in full],
            "peak_kib_1x": peak_1x, "peak_kib_10x": large.peak_kib, "peak_growth": growth,
            "ralph_peak_kib": [run.peak_kib for run in ralph], "checks": checks,
        }, indent=2) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
