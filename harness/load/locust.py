"""Load from Locust, run headless in its own process (Locust patches the interpreter with gevent,
so it never runs inside the harness), its stats read back from its CSV output."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.faults import ActiveFault
from harness.load import LOADS, LoadError
from harness.provision.backend import Stack
from harness.provision.process import ManagedProcess
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import LocustLoad

__all__ = [
    "HISTORY_FILE",
    "SHAPE_FILE",
    "hash_key",
    "read_history",
    "read_requests",
    "read_stats",
    "start_locust",
]


#: Locust's stats history columns charted in the report, and their names there
_HISTORY = {
    "Requests/s": "requests/s",
    "Failures/s": "failures/s",
    "50%": "p50 latency (ms)",
    "95%": "p95 latency (ms)",
    "99%": "p99 latency (ms)",
}


#: the load shape added to the locustfile for ``shape`` stages
SHAPE_FILE = Path(__file__).parent.parent / "loadshape.py"
#: the request history added to the locustfile for ``history:``
HISTORY_FILE = Path(__file__).parent.parent / "locust_history.py"


def read_stats(stats_csv: Path) -> dict[str, float]:
    """The ``Aggregated`` row of Locust's ``*_stats.csv``: counts, rate and percentiles (ms)."""
    try:
        with stats_csv.open(newline="") as f:
            rows = {row["Name"]: row for row in csv.DictReader(f)}
    except OSError as exc:
        raise LoadError(f"Locust wrote no stats at {stats_csv}: {exc.strerror}") from None
    row = rows.get("Aggregated")
    if row is None:
        raise LoadError(f"{stats_csv} has no Aggregated row")

    def number(key: str) -> float:
        value = row.get(key) or "0"
        return float(value) if value not in ("N/A", "") else 0.0

    return {
        "requests": number("Request Count"),
        "failures": number("Failure Count"),
        "rps": number("Requests/s"),
        "p50_ms": number("50%"),
        "p95_ms": number("95%"),
        "p99_ms": number("99%"),
    }


def read_history(history_csv: Path) -> dict[str, list[list[float]]]:
    """The ``Aggregated`` rows of Locust's ``*_stats_history.csv`` (one per second) as series
    of [unix time, value]; missing or empty: no series. Percentiles Locust reports as ``N/A``
    (no request yet) are left out."""
    series: dict[str, list[list[float]]] = {name: [] for name in _HISTORY.values()}
    try:
        with history_csv.open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("Name") != "Aggregated":
                    continue
                try:
                    at = float(row["Timestamp"])
                except (KeyError, ValueError):
                    continue
                for column, name in _HISTORY.items():
                    try:
                        series[name].append([at, float(row[column])])
                    except (KeyError, ValueError):
                        continue
    except OSError:
        return {}
    return {name: points for name, points in series.items() if points}


def read_requests(path: Path) -> list[dict[str, Any]]:
    """The requests ``locust_history.py`` recorded (one JSON object a line); lines cut short
    by a killed Locust are left out."""
    entries = []
    try:
        with path.open() as f:
            for line in f:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return []
    return entries


def hash_key(text: str) -> int:
    """A stable 31-bit number from ``text`` (Python's ``hash`` changes between processes)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


@LOADS.register("locust")
def start_locust(
    load: LocustLoad,
    duration_s: float,
    stack: Stack,
    context: TemplateContext,
    run_dir: Path,
    key: str,
) -> ActiveFault:
    """Start Locust for ``duration_s``; the returned object's ``revert`` waits for it to finish
    and records what it achieved (``fired`` is False when no request was made or the rate
    stayed below the target)."""
    target = stack.services[load.service].endpoint.url
    # Locust runs in its own process of this interpreter; looking it up does not import it.
    if importlib.util.find_spec("locust") is None:
        raise LoadError(
            f"load steps need Locust, which is not installed for {sys.executable}; "
            "install it with: pip install 'chaosgate[load]'"
        )
    locustfile = Path(resolve(load.locustfile, context, where="load.locustfile"))
    if not locustfile.is_file():
        raise LoadError(f"load.locustfile {str(locustfile)!r} does not exist")
    out = run_dir / "load" / key
    out.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        ",".join(
            [
                str(locustfile),
                *([str(SHAPE_FILE)] if load.shape else []),
                *([str(HISTORY_FILE)] if load.history else []),
            ]
        ),
        "--headless",
        *([] if load.shape else ["-u", str(load.users), "-r", f"{load.spawn_rate:g}"]),
        "-t",
        f"{max(1, round(duration_s))}s",
        "--host",
        target,
        "--csv",
        str(out / "locust"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        *load.user_classes,
    ]
    env = {k: resolve(v, context, where=f"load.env.{k}") for k, v in load.env.items()}
    # Locust's data is drawn from the run's seed and the step: the same seed, the same orders.
    env.setdefault("CG_SEED", str(abs(hash_key(f"{context.seed}:{key}"))))
    if load.history is not None:
        spec = load.history
        kind = next(k for k in ("json_path", "request_path", "header", "regex") if getattr(spec, k))
        env["CG_HISTORY_KEY"] = f"{kind}:{getattr(spec, kind)}"
        env["CG_HISTORY_FILE"] = str(out / "history.jsonl")
    if load.shape:
        end, stages = 0.0, []
        for stage in load.shape:
            end += stage.duration_s * context.time_scale
            stages.append([round(end, 3), stage.users, stage.spawn_rate])
        env["CG_LOAD_SHAPE"] = json.dumps(stages)
    process = ManagedProcess(
        f"locust-{key}", argv, env={**env, "PYTHONUNBUFFERED": "1"}, log_path=out / "locust.log"
    )
    process.start()
    planned_end = time.monotonic() + duration_s
    who = (
        f"{len(load.shape)} stage(s) up to {max(s.users for s in load.shape)} user(s)"
        if load.shape
        else f"{load.users} user(s)"
    )
    active = ActiveFault(f"Locust: {who} against {target} for {duration_s:g} s", lambda: None)

    def finish() -> None:
        # Reverted before its time (a failure elsewhere, Ctrl-C): stop Locust now rather than
        # wait for its duration; it still writes the stats of what it did.
        early = time.monotonic() < planned_end - 1.0
        try:
            if not early:
                process.wait(timeout_s=max(0.0, planned_end - time.monotonic()) + 30)
        except TimeoutError:
            pass
        finally:
            process.stop()  # ends it if it overran; always closes its log
        stats = read_stats(out / "locust_stats.csv")
        evidence = [
            f"{stats['requests']:.0f} requests, {stats['failures']:.0f} failed, "
            f"{stats['rps']:.1f} req/s, p50 {stats['p50_ms']:.0f} ms, "
            f"p95 {stats['p95_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms"
        ]
        fired = stats["requests"] > 0
        if load.target_rps is not None:
            floor = load.target_rps * (1 - load.tolerance)
            evidence.append(
                f"target {load.target_rps:g} req/s (at least {floor:g}); "
                f"achieved {stats['rps']:.2f}"
            )
            fired = fired and stats["rps"] >= floor
        if load.max_failure_rate is not None and stats["requests"]:
            rate = stats["failures"] / stats["requests"]
            if rate > load.max_failure_rate:
                active.broken = (
                    f"{stats['failures']:.0f} of {stats['requests']:.0f} requests failed "
                    f"({rate:.1%}, at most {load.max_failure_rate:.1%} allowed); see {out}"
                )
        active.evidence, active.fired = evidence, fired
        active.series = read_history(out / "locust_stats_history.csv")
        if load.history is not None:
            active.history = read_requests(out / "history.jsonl")

    active.revert = finish
    active.fired = None
    active.evidence = [f"Locust log: {process.log_path}"]
    return active
