"""The history of operations: everything the harness did to the system, and what the system
said, as entries the invariants judge (Jepsen's invoke / ok / fail / info, for any system).

An entry is a dict (it goes into the journal as it is)::

    {"op": "http", "step": "place an order", "key": "42", "result": "ok", "status": 201,
     "invoke_s": 3.104, "complete_s": 3.151, "detail": "POST /orders -> 201"}

``result``: ``ok`` — the system acknowledged it (2xx, 3xx; a command's expected exit code);
``fail`` — it refused it (4xx: nothing may have happened); ``info`` — unknown (5xx, a timeout, a
transport error: it may or may not have happened). ``key`` is what the scenario says identifies
the write (:class:`~harness.scenario.model.OpKey`); times are on the scenario's clock (a kind
records unix times, ``invoke_at``/``complete_at``, turned into them by the runner).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.journal import StepRecord
from harness.probes import dig
from harness.scenario.model import OpKey

__all__ = [
    "HISTORY_FILE",
    "JOURNAL_CAP",
    "Ledger",
    "Result",
    "classify",
    "key_of",
    "on_scenario_clock",
    "operations",
    "write_history",
]

Result = Literal["ok", "fail", "info"]
#: the whole history of a scenario, one JSON object per line, beside its logs
HISTORY_FILE = "history.jsonl"
#: entries of one step kept in the journal (the file beside it has them all)
JOURNAL_CAP = 500


def classify(status: int | None) -> Result:
    """An HTTP answer as an operation's result."""
    if status is None or status >= 500:
        return "info"
    if status >= 400:
        return "fail"
    return "ok"


def _dig(document: Any, path: str) -> Any:
    try:
        return dig(document, path)
    except KeyError:
        return None


def key_of(
    spec: OpKey | None,
    *,
    text: str = "",
    headers: Mapping[str, str] | None = None,
    request: Any = None,
) -> str | None:
    """The key ``spec`` finds in an answer (``text``, ``headers``) or its ``request`` body;
    None when it is not there (a refused request has no id)."""
    if spec is None:
        return None
    value: Any = None
    if spec.json_path is not None:
        try:
            value = _dig(json.loads(text), spec.json_path)
        except ValueError:
            value = None
    elif spec.request_path is not None:
        value = _dig(request, spec.request_path)
    elif spec.header is not None:
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        value = lowered.get(spec.header.lower())
    elif spec.regex is not None:
        match = re.search(spec.regex, text)
        value = (match[1] if match.groups() else match[0]) if match else None
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def on_scenario_clock(entries: Iterable[dict[str, Any]], started_at: float) -> list[dict[str, Any]]:
    """Entries with unix times (``invoke_at``, ``complete_at``) on the scenario's clock."""
    kept = []
    for entry in entries:
        entry = dict(entry)
        for unix, scenario in (("invoke_at", "invoke_s"), ("complete_at", "complete_s")):
            if unix in entry:
                entry[scenario] = round(float(entry.pop(unix)) - started_at, 3)
        kept.append(entry)
    return kept


def operations(steps: Iterable[StepRecord], names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The operations (entries with a ``key``) of ``steps``, or of the steps named."""
    wanted = set(names)
    return [
        entry
        for step in steps
        if not wanted or step.name in wanted
        for entry in step.history
        if entry.get("key") is not None
    ]


def write_history(steps: Iterable[StepRecord], path: Path) -> int:
    """Every step's whole history into ``path`` (JSON Lines); how many entries. The journal
    then keeps the first :data:`JOURNAL_CAP` of each step and the count."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for step in steps:
            for entry in step.history:
                out.write(json.dumps({"step": step.name, **entry}, default=str) + "\n")
                count += 1
    return count


@dataclass
class Ledger:
    """The results of the operations on each key: what the system acknowledged, refused, or
    left unknown."""

    results: dict[str, list[Result]] = field(default_factory=dict)
    #: operations whose answer named no key (a 503 before anything was written, a timeout):
    #: they belong to no key, and are counted so a summary does not hide them
    keyless: int = 0

    @classmethod
    def of(cls, entries: Iterable[dict[str, Any]]) -> Ledger:
        ledger = cls()
        for entry in entries:
            key = entry.get("key", entry.get("event_id"))
            if key is None:
                ledger.keyless += 1
                continue
            result = entry.get("result") or classify(entry.get("status"))
            ledger.results.setdefault(str(key), []).append(result)
        return ledger

    @classmethod
    def from_steps(cls, steps: Iterable[StepRecord], names: Iterable[str] = ()) -> Ledger:
        wanted = set(names)
        return cls.of(
            entry for step in steps if not wanted or step.name in wanted for entry in step.history
        )

    def acknowledged(self) -> set[str]:
        """Keys the system answered ok at least once."""
        return {k for k, results in self.results.items() if "ok" in results}

    def refused(self) -> set[str]:
        """Keys the system refused every time (nothing may have happened)."""
        return {k for k, results in self.results.items() if set(results) == {"fail"}}

    def unknown(self) -> set[str]:
        """Keys never acknowledged nor refused every time (5xx, timeouts: maybe applied)."""
        return set(self.results) - self.acknowledged() - self.refused()

    def acknowledged_twice(self) -> dict[str, int]:
        return {k: n for k, r in self.results.items() if (n := r.count("ok")) > 1}
