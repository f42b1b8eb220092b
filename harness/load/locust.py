"""Load from Locust, run headless in its own process (Locust patches the interpreter with gevent,
so it never runs inside the harness), its stats read back from its CSV output."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.util
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

from harness.faults import ActiveFault
from harness.load import LOADS, LoadError
from harness.provision.backend import Stack
from harness.provision.process import ManagedProcess, free_port
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import LocustLoad

__all__ = [
    "ARRIVALS_FILE",
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
#: the open arrival model added to the locustfile for ``arrival_rps``
ARRIVALS_FILE = Path(__file__).parent.parent / "locust_arrivals.py"
#: each worker's rate as the master received it, added for ``workers`` / ``remote_workers``
WORKER_RATES_FILE = Path(__file__).parent.parent / "locust_worker_rates.py"


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


def read_worker_rates(path: Path) -> tuple[dict[str, list[list[float]]], dict[str, int]]:
    """Per worker, from what ``locust_worker_rates.py`` recorded in the master: a series of
    [unix time, requests/s] named ``requests/s worker NAME``, and the requests it reported."""
    series: dict[str, list[list[float]]] = {}
    totals: dict[str, int] = {}
    for entry in read_requests(path):
        try:
            name, at = str(entry["worker"]), float(entry["at"])
            requests, interval = int(entry["requests"]), float(entry["interval_s"])
        except (KeyError, TypeError, ValueError):
            continue
        series.setdefault(f"requests/s worker {name}", []).append(
            [at, round(requests / max(interval, 1e-3), 3)]
        )
        totals[name] = totals.get(name, 0) + requests
    return series, totals


def _offered(
    load: LocustLoad, out: Path, workers: int, stats: dict[str, float]
) -> tuple[str, bool]:
    """Offered beside delivered, from what each sending process wrote of its schedule, and
    whether the arrivals started kept up with the schedule (within ``tolerance``). An arrival
    is one task run (it may send several requests)."""
    names = [f"arrivals-{i}.json" for i in range(1, workers + 1)] or ["arrivals.json"]
    totals = {"scheduled": 0.0, "started": 0.0, "late": 0.0, "worst_lag_ms": 0.0}
    for name in names:
        try:
            part = json.loads((out / name).read_text())
        except (OSError, ValueError):
            continue
        for field in ("scheduled", "started", "late"):
            totals[field] += float(part.get(field, 0))
        totals["worst_lag_ms"] = max(totals["worst_lag_ms"], float(part.get("worst_lag_ms", 0)))
    due, started = totals["scheduled"], totals["started"]
    share = started / due if due else 0.0
    text = (
        f"offered {load.arrival_rps:g} arrivals/s: {due:.0f} due, {started:.0f} started "
        f"({share:.0%}), {totals['late']:.0f} over {load.arrival_late_ms:g} ms late (worst "
        f"{totals['worst_lag_ms']:.0f} ms); delivered {stats['rps']:.2f} req/s "
        f"({stats['requests']:.0f} requests)"
    )
    return text, due > 0 and share >= 1 - load.tolerance


def _workers_seen(log: Path, expected: int) -> str:
    """How many workers the master counted, from its log (Locust says "N workers connected")."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    counts = [int(n) for n in re.findall(r"(\d+) workers? connected", text)] or [0]
    missing = "; heartbeats missed" if "failed to send heartbeat" in text else ""
    return f"{max(counts)} of {expected} worker(s) connected{missing}"


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
    files = ",".join(
        [
            str(locustfile),
            *([str(SHAPE_FILE)] if load.shape else []),
            *([str(HISTORY_FILE)] if load.history else []),
            *([str(ARRIVALS_FILE)] if load.arrival_rps else []),
            *([str(WORKER_RATES_FILE)] if load.workers or load.remote_workers else []),
        ]
    )
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
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
    if load.arrival_rps is not None:
        # the schedule is per process: the workers share the rate (remote ones are given
        # theirs by whoever starts them)
        senders = max(1, load.workers + load.remote_workers)
        env["CG_ARRIVAL_RPS"] = f"{load.arrival_rps / senders:g}"
        env["CG_ARRIVAL_LATE_MS"] = f"{load.arrival_late_ms:g}"
        env["CG_ARRIVALS_FILE"] = str(out / "arrivals.json")
    workers: list[ManagedProcess] = []
    if load.workers or load.remote_workers:
        port = load.master_port or free_port(load.master_host)
        argv[5:5] = [
            "--master",
            "--master-bind-host",
            load.master_host,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(load.workers + load.remote_workers),
            "--expect-workers-max-wait",
            str(math.ceil(load.workers_timeout_s)),
        ]
        for i in range(1, load.workers + 1):
            # each worker its own seed (distinct data) and its own history file
            own = {
                **env,
                "CG_SEED": str(abs(hash_key(f"{context.seed}:{key}:{i}"))),
                "CG_WORKER_NAME": str(i),
            }
            if load.history is not None:
                own["CG_HISTORY_FILE"] = str(out / f"history-{i}.jsonl")
            if load.arrival_rps is not None:
                own["CG_ARRIVALS_FILE"] = str(out / f"arrivals-{i}.json")
            worker = ManagedProcess(
                f"locust-{key}-worker-{i}",
                [
                    *argv[:5],
                    "--worker",
                    "--master-host",
                    load.master_host,
                    "--master-port",
                    str(port),
                    *load.user_classes,
                ],
                env={**own, "PYTHONUNBUFFERED": "1"},
                log_path=out / f"locust-worker-{i}.log",
            )
            workers.append(worker)
        env.pop("CG_HISTORY_FILE", None)  # the master sends no request: it records none
        env["CG_WORKER_RATES_FILE"] = str(out / "worker-rates.jsonl")
    process = ManagedProcess(
        f"locust-{key}", argv, env={**env, "PYTHONUNBUFFERED": "1"}, log_path=out / "locust.log"
    )
    process.start()
    try:
        for worker in workers:
            worker.start()
    except BaseException:
        for started in [process, *workers]:
            started.stop()
        raise
    planned_end = time.monotonic() + duration_s
    who = (
        f"{len(load.shape)} stage(s) up to {max(s.users for s in load.shape)} user(s)"
        if load.shape
        else f"{load.users} user(s)"
    )
    if workers or load.remote_workers:
        who += f" on {len(workers) + load.remote_workers} worker(s)"
    active = ActiveFault(f"Locust: {who} against {target} for {duration_s:g} s", lambda: None)

    def finish() -> None:
        # Reverted before its time (a failure elsewhere, Ctrl-C): stop Locust now rather than
        # wait for its duration; it still writes the stats of what it did.
        early = time.monotonic() < planned_end - 1.0
        # A worker that died before the master ended (killed, crashed) is reported by name:
        # the master's stats hold only what it sent until then.
        died = []
        try:
            if not early:
                wait = max(0.0, planned_end - time.monotonic()) + load.workers_timeout_s + 30
                process.wait(timeout_s=wait)
            died = [(i, w.returncode) for i, w in enumerate(workers, 1) if w.returncode]
        except TimeoutError:
            pass
        finally:
            process.stop()  # ends it if it overran; always closes its log
            for worker in workers:  # they quit with their master; else now
                with contextlib.suppress(TimeoutError):
                    worker.wait(timeout_s=5)
                worker.stop()
        stats = read_stats(out / "locust_stats.csv")
        evidence = [
            f"{stats['requests']:.0f} requests, {stats['failures']:.0f} failed, "
            f"{stats['rps']:.1f} req/s, p50 {stats['p50_ms']:.0f} ms, "
            f"p95 {stats['p95_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms"
        ]
        per_worker: dict[str, list[list[float]]] = {}
        if workers or load.remote_workers:
            evidence.append(_workers_seen(out / "locust.log", len(workers) + load.remote_workers))
            per_worker, sent = read_worker_rates(out / "worker-rates.jsonl")
            if sent:
                shares = ", ".join(f"{name}: {n}" for name, n in sorted(sent.items()))
                evidence.append(f"requests reported per worker: {shares}")
        fired = stats["requests"] > 0
        if load.arrival_rps is not None:
            offered, kept_up = _offered(load, out, len(workers), stats)
            evidence.append(offered)
            fired = fired and kept_up
        target = load.target_rps
        if target is not None:
            floor = target * (1 - load.tolerance)
            evidence.append(
                f"target {target:g} req/s (at least {floor:g}); achieved {stats['rps']:.2f}"
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
        active.series = {**read_history(out / "locust_stats_history.csv"), **per_worker}
        if load.history is not None:
            names = [f"history-{i}.jsonl" for i in range(1, len(workers) + 1)] or ["history.jsonl"]
            active.history = [entry for name in names for entry in read_requests(out / name)]
        if died:
            dead = ", ".join(f"worker {i} (exit {code})" for i, code in died)
            raise LoadError(
                f"Locust {dead} of {len(workers)} died before the step ended: the load it was "
                f"to send was not sent, and the stats hold only what it sent until then; "
                f"see {out}"
            )

    active.revert = finish
    active.fired = None
    active.evidence = [f"Locust log: {process.log_path}"]
    return active
