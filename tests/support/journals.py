"""Run journals built from the journal's own dataclasses, shaped like a real run of the shipped
suite (faults, loads, assertions sampled every half second, metrics, a runbook drill, service
logs), for report tests and the report benchmark."""

from __future__ import annotations

import math
import time
from pathlib import Path

from harness.journal import (
    AssertionRecord,
    CheckRecord,
    InvariantRecord,
    MetricSeries,
    RunbookCommandRecord,
    RunbookRecord,
    RunbookStepRecord,
    RunRecord,
    ScenarioRecord,
    StepRecord,
)

SECRET = "whsec_s3cr3t-signing-key"
FAILED_ASSERTION = "replay fulfils every order"


def scenario(
    index: int, run_dir: Path, *, failed: bool = False, log_kb: int = 40
) -> ScenarioRecord:
    sid = f"scenario-{index:02d}"
    rec = ScenarioRecord(
        sid,
        f"Scenario {index}: a fault, a load and a runbook",
        f"scenarios/{sid}.yaml",
        "runbooks/payment-processing-failure.md",
        status="failed" if failed else "passed",
        reason=(
            f"assertion {FAILED_ASSERTION!r} (eventually) failed: not within 40 s (scaled): "
            "observed 1, expected 3"
            if failed
            else ""
        ),
        started_at=time.time() - 60,
        duration_s=45.0,
        method_started_s=6.0,
        method_ended_s=44.0,
    )
    rec.steady_state_before = [CheckRecord("the shop is healthy", True, 200, "observed 200", 5.9)]
    rec.steady_state_after = [CheckRecord("the shop is healthy", True, 200, "observed 200", 44.1)]
    rec.steps = [
        StepRecord("setup 1", "setup", 5.0, 5.2, detail="POST /admin/products -> 201"),
        StepRecord(
            "Stripe's API fails every call",
            "fault",
            6.0,
            14.0,
            detail="provider fails every call",
            evidence=["42 calls failed"],
            fired=True,
        ),
        StepRecord("flood", "load", 6.0, 26.0, detail="Locust", evidence=["380 requests"]),
        StepRecord(
            "Stripe reports three payments",
            "action",
            6.3,
            6.5,
            detail="3 event(s), 3 acknowledged",
            history=[{"event_id": f"evt_{i}", "status": 200} for i in range(3)],
        ),
    ]
    for a in range(8):
        ok = not (failed and a == 0)
        series = [[round(6 + t * 0.5, 3), float(t % 7), ok or t < 10] for t in range(int(38 / 0.5))]
        rec.assertions.append(
            AssertionRecord(
                FAILED_ASSERTION if a == 0 else f"assertion {a}",
                "eventually" if a % 2 == 0 else "always",
                {"equals": 3},
                "passed" if ok else "failed",
                len(series),
                3 if ok else 1,
                "observed 3" if ok else "not within 40 s (scaled): observed 1, expected 3",
                44.0,
                series,
            )
        )
    rec.invariants = [InvariantRecord("exactly once", "exactly_once", "passed", "3 events, 3")]
    rec.metrics = [
        MetricSeries(
            name,
            unit,
            "metric",
            [[round(6 + t, 3), round(50 + 40 * math.sin(t / 5), 2)] for t in range(38)],
        )
        for name, unit in (("orders queue depth", "jobs"), ("webhook success", "%"))
    ] + [
        MetricSeries(
            "p95 latency (ms)", "", "load: flood", [[6.0 + t, 20.0 + t] for t in range(20)]
        )
    ]
    drill = RunbookRecord(
        "runbooks/payment-processing-failure.md", "payment-processing-failure", "P1", "30m", 30.0
    )
    drill.status = "passed"
    drill.incident_started_s, drill.recovered_at_s, drill.time_to_resolve_s = 6.0, 21.0, 15.0
    for i, (sid_step, section, verdict) in enumerate(
        [
            ("stuck-orders", "symptoms", "passed"),
            ("dead-letters", "symptoms", "passed"),
            ("provider-status", "diagnosis", "human"),
            ("replay", "resolution", "passed"),
            ("audit-intact", "rollback", "passed"),
        ]
    ):
        drill.steps.append(
            RunbookStepRecord(
                sid_step,
                section,
                {"symptoms": "diagnose", "diagnosis": "diagnose", "resolution": "resolve"}.get(
                    section, "rollback"
                ),
                f"runbooks/payment-processing-failure.md:{20 + 8 * i}",
                "human" if verdict == "human" else "commands",
                "exit 0",
                verdict,  # type: ignore[arg-type]
                started_s=8.0 + 2.6 * i,
                duration_s=2.6,
                attempts=1,
                commands=[]
                if verdict == "human"
                else [
                    RunbookCommandRecord(
                        "shop webhooks failures --since 1h --json",
                        21 + 8 * i,
                        0,
                        '[\n  {"event_id": "evt_1", "error_message": "provider 503"}\n]',
                        2.6,
                    )
                ],
                text="Open the provider's status page." if verdict == "human" else "",
            )
        )
    rec.runbook_drill = drill
    logs = run_dir / sid
    logs.mkdir(parents=True, exist_ok=True)
    for service in ("db", "redis", "api", "worker", "provider"):
        path = logs / f"{service}.log"
        line = f"{service}: INFO handled request id=42 in 3 ms\n"
        path.write_text(line * (log_kb * 1024 // len(line)))
        rec.services[service] = str(path)
    return rec


def typical_run(run_dir: Path, *, scenarios: int = 12, failed: int = 1) -> RunRecord:
    """A run of ``scenarios`` scenarios, the first ``failed`` of them failed."""
    run = RunRecord(seed=5, time_scale=1.0, started_at=time.time() - 600)
    run.scenarios = [scenario(i, run_dir, failed=i < failed) for i in range(scenarios)]
    run.finished_at = time.time()
    return run
