"""The run journal: one JSON document per run, the single source of truth reports render from.

Versions, platform, seed and time scale; per scenario its steady state before and after, each
step with start/end/status/output, assertions with expected and observed values, fault evidence,
rollbacks, and where each service's log is.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import __version__

__all__ = [
    "AssertionRecord",
    "CheckRecord",
    "InvariantRecord",
    "MetricSeries",
    "RunRecord",
    "RunbookRecord",
    "RunbookStepRecord",
    "ScenarioRecord",
    "Status",
    "StepRecord",
    "overall_status",
]

Status = Literal["passed", "failed", "errored"]


@dataclass
class CheckRecord:
    """One check observed once: whether it held, what the probe saw and said."""

    name: str
    ok: bool
    observed: Any
    why: str
    at_s: float
    #: what the probe saw besides the judged value (an HTTP status and body excerpt, a
    #: command's output tail), redacted like the rest of the journal
    detail: str = ""


@dataclass
class StepRecord:
    """One step as it ran. Times are on the scenario's clock (seconds since it started), like
    every ``*_s`` of a record; ``scheduled_s`` is when the method said it starts (its ``at_s``
    after the method's start, scaled), ``scheduled_end_s`` when its duration ends. A step that
    started later than the run's tolerance says why (``delayed_by``) and errors the scenario."""

    name: str
    kind: str  # fault | action | load | setup | rollback
    started_s: float
    ended_s: float | None = None
    status: Literal["ok", "failed", "errored"] = "ok"
    detail: str = ""
    evidence: list[str] = field(default_factory=list)
    fired: bool | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # e.g. each webhook delivery
    broken: str | None = None  # what the system got wrong while this step ran
    #: how many history entries it made (the journal keeps the first ones; the scenario's
    #: history.jsonl has them all)
    history_count: int = 0
    scheduled_s: float | None = None
    scheduled_end_s: float | None = None
    #: how much later than scheduled it started (or, for a timed fault, was reverted)
    late_s: float = 0.0
    delayed_by: str = ""


@dataclass
class AssertionRecord:
    """An assertion as judged: only samples that started and ended inside its window count.

    ``errored``: no sample fitted in the window (the probe is slower than the window), so the
    harness could not judge it."""

    name: str
    type: str
    expected: dict[str, Any]
    status: Literal["passed", "failed", "errored"] = "failed"
    samples: int = 0  # counted: inside the window
    observed: Any = None
    why: str = ""
    at_s: float | None = None  # when the deciding (or last counted) sample started
    #: every sample, [started_s, observed, ok, ended_s, counted] (numbers are charted; capped
    #: at SERIES_CAP samples); a sample that overran the window is kept, not counted
    series: list[list[Any]] = field(default_factory=list)
    window: list[float] = field(default_factory=list)  # [from, until] on the scenario's clock
    not_counted: int = 0  # samples that started or ended outside the window
    detail: str = ""  # what the probe saw at the deciding (or last) sample


SERIES_CAP = 2000  # samples kept per series; reports draw fewer


@dataclass
class MetricSeries:
    """A number over the scenario's time, for the report: a scenario's ``metrics`` sampled
    while the method ran, or a load's stats (latency percentiles, requests per second)."""

    name: str
    unit: str = ""
    source: str = ""  # "metric", or the step that measured it ("load: flash sale")
    points: list[list[float | None]] = field(default_factory=list)  # [at_s, value]


@dataclass
class InvariantRecord:
    name: str
    type: str
    status: Literal["passed", "failed"] = "failed"
    summary: str = ""
    violations: list[str] = field(default_factory=list)
    samples: int = 0


@dataclass
class RunbookCommandRecord:
    command: str
    line: int
    exit_code: int | None  # None: it did not start or did not finish
    output: str  # an excerpt: the last lines
    duration_s: float
    by: str = ""  # game days: who ran it at the console
    at_s: float | None = None  # game days: when


@dataclass
class RunbookStepRecord:
    """One runbook step as executed: ``passed``/``failed`` against its expectation, ``human``
    (a person's step: reported, never faked) or ``not run`` (an earlier resolution step
    failed, or the run was interrupted). In a game day a responder marks steps ``done`` (run
    and passed, or done by hand) or ``skipped``; ``marked_by`` says who."""

    id: str
    section: str
    phase: str
    location: str  # file:line of the step's fence
    kind: str  # commands | human
    expectation: str
    verdict: Literal["passed", "failed", "human", "not run", "done", "skipped"] = "not run"
    why: str = ""
    started_s: float | None = None
    duration_s: float = 0.0
    attempts: int = 0
    commands: list[RunbookCommandRecord] = field(default_factory=list)
    text: str = ""  # a human step's instruction
    marked_by: str = ""
    marked_at_s: float | None = None


@dataclass
class RunbookRecord:
    """A runbook executed under the scenario's fault, and how long the incident took."""

    path: str
    id: str
    severity: str
    target: str  # the runbook's time_to_resolve, e.g. 30m
    target_s: float  # in this run: target / compress * time scale
    status: Literal["passed", "failed", "not run"] = "not run"
    why: str = ""
    incident_started_s: float | None = None
    recovered_at_s: float | None = None
    time_to_resolve_s: float | None = None
    recovery: CheckRecord | None = None  # the last sample of the recovered check
    steps: list[RunbookStepRecord] = field(default_factory=list)
    #: drill: the harness ran the runbook; gameday: people did, at the console
    mode: Literal["drill", "gameday"] = "drill"
    detected_at_s: float | None = None
    time_to_detect_s: float | None = None  # incident start -> the detected check first held
    responders: list[str] = field(default_factory=list)
    #: game days: commands run at the console outside any step
    commands: list[RunbookCommandRecord] = field(default_factory=list)
    ended_by: str = ""  # game days: recovered | aborted by NAME | the maximum duration passed

    @property
    def human_steps(self) -> list[RunbookStepRecord]:
        return [s for s in self.steps if s.verdict == "human"]


@dataclass
class ScenarioRecord:
    id: str
    title: str
    file: str
    runbook: str | None
    status: Status = "errored"
    reason: str = ""
    started_at: float = 0.0
    duration_s: float = 0.0
    method_started_s: float | None = None  # on the scenario's clock, like every *_s below
    method_ended_s: float | None = None
    steady_state_before: list[CheckRecord] = field(default_factory=list)
    steady_state_after: list[CheckRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    assertions: list[AssertionRecord] = field(default_factory=list)
    invariants: list[InvariantRecord] = field(default_factory=list)
    runbook_drill: RunbookRecord | None = None
    metrics: list[MetricSeries] = field(default_factory=list)
    rollbacks: list[StepRecord] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)  # name -> log file
    teardown_problems: list[str] = field(default_factory=list)
    #: steps that started (or ended) later than the scenario's tolerance, and why
    slips: list[str] = field(default_factory=list)


def overall_status(statuses: Iterable[str], invalid_files: bool = False) -> Status:
    """A run's verdict from its scenarios': errored if one errored (or a file was broken),
    else failed if one failed, else passed."""
    seen = set(statuses)
    if "errored" in seen or invalid_files:
        return "errored"
    if "failed" in seen:
        return "failed"
    return "passed"


@dataclass
class RunRecord:
    seed: int
    time_scale: float
    started_at: float
    #: the backend that provisioned the services: local | docker
    environment: str = "local"
    chaosgate: str = __version__
    python: str = field(default_factory=lambda: sys.version.split()[0])
    platform: str = field(default_factory=platform.platform)
    finished_at: float | None = None
    scenarios: list[ScenarioRecord] = field(default_factory=list)
    invalid_files: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return overall_status([s.status for s in self.scenarios], bool(self.invalid_files))

    def to_json(self) -> str:
        return json.dumps({"status": self.status, **asdict(self)}, indent=2, default=str)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)
