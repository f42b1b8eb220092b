"""Load from Locust, run headless in its own process (Locust patches the interpreter with gevent,
so it never runs inside the harness), its stats read back from its CSV output."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.faults import ActiveFault
from harness.provision.backend import Stack
from harness.provision.process import ManagedProcess
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import LocustLoad

__all__ = ["LoadError", "read_stats", "start_load"]


class LoadError(HarnessError):
    pass


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


def start_load(
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
        str(locustfile),
        "--headless",
        "-u",
        str(load.users),
        "-r",
        f"{load.spawn_rate:g}",
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
    process = ManagedProcess(
        f"locust-{key}", argv, env={**env, "PYTHONUNBUFFERED": "1"}, log_path=out / "locust.log"
    )
    process.start()
    active = ActiveFault(
        f"Locust: {load.users} user(s) against {target} for {duration_s:g} s", lambda: None
    )

    def finish() -> None:
        try:
            process.wait(timeout_s=duration_s + 30)
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
        active.evidence, active.fired = evidence, fired

    active.revert = finish
    active.fired = None
    active.evidence = [f"Locust log: {process.log_path}"]
    return active
