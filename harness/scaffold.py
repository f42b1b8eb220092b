"""``chaosgate init``: a starter scenario, runbook and load for a team's own service.

From a few answers — the service's command (or image), its health URL, the databases and caches
it uses and the variables that point it at them, and optionally one write it acknowledges and
how to read it back — :func:`plan` writes, as text a person goes on editing:

- ``scenarios/<name>.yaml``: the dependencies (``kind: postgres`` / ``redis``), each reached
  through Toxiproxy; the service; a steady state on the health URL; for each dependency one
  latency and one outage step; an assertion that the service is healthy again; the runbook's
  drill under the first outage; with writes, a Locust load whose every answer goes into the
  history of operations and an ``acknowledged`` invariant (every write acknowledged is read back
  afterwards, none twice).
- ``runbooks/<name>-dependency-down.md``: a runbook skeleton that lints clean, drilled by the
  scenario (people's steps as ``human`` steps, the recovery check as a command).
- ``loads/<name>_writers.py`` (with writes): the locustfile, configured from the step's ``env``.

:func:`check` lists every problem of the answers at once, each naming the value and what to
give instead; nothing is written while there is one.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Answers", "Dependency", "Writes", "check", "plan", "variables", "write_files"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PORT = "{port}"
KEY = "{key}"
N = "{n}"

_KINDS = {"postgres": ("PostgreSQL", "db"), "redis": ("Redis", "cache")}


@dataclass(frozen=True)
class Dependency:
    """A database or cache the service uses: its ``kind``, and the environment variables that
    receive its URL (through its Toxiproxy proxy)."""

    kind: Literal["postgres", "redis"]
    env: tuple[str, ...]


@dataclass(frozen=True)
class Writes:
    """One write the service acknowledges: ``POST path`` with ``body`` (JSON, ``{n}`` a number
    per write), the written key at the dotted ``key`` path of the answer, and ``read`` the path
    that answers 200 for a key that is there (``{key}`` in it)."""

    path: str
    body: str
    key: str
    read: str


@dataclass(frozen=True)
class Answers:
    """What ``chaosgate init`` asks for. ``command`` and ``env`` values and ``before_start``
    may hold ``{port}``, the port the harness picks for the service."""

    name: str
    command: tuple[str, ...]
    health: str
    dependencies: tuple[Dependency, ...] = ()
    before_start: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    writes: Writes | None = None
    latency_ms: int = 300

    @property
    def scenario_id(self) -> str:
        return f"{self.name}-dependencies"

    @property
    def runbook_id(self) -> str:
        return f"{self.name}-dependency-down"

    @property
    def url_var(self) -> str:
        """The drill's variable for the service's URL: ``KINTO_URL``."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_URL"


def variables(spec: str) -> tuple[str, ...]:
    """``"A,B"`` -> ``("A", "B")``: the variables a dependency's URL goes to."""
    return tuple(v.strip() for v in spec.split(",") if v.strip())


def check(answers: Answers) -> list[str]:
    """Every problem of the answers, as sentences naming the value and what to give."""
    problems = []
    if not _NAME.match(answers.name):
        problems.append(
            f"--name {answers.name!r}: a service name is lower-case letters, digits, '-' and '_', "
            "starting with a letter (e.g. orders-api)"
        )
    if not answers.command:
        problems.append("--command is empty: give the command that starts the service")
    elif not any(PORT in word for word in [*answers.command, *answers.env.values()]):
        problems.append(
            f"--command {shlex.join(answers.command)!r} does not say where the port goes: the "
            f"harness picks a free port, so put {PORT} where the service takes it (--port {PORT}), "
            f"or pass it in a variable (--env PORT={PORT})"
        )
    if not answers.health.startswith("/"):
        problems.append(f"--health {answers.health!r}: give the health check's path, e.g. /health")
    if not answers.dependencies:
        problems.append(
            "no dependency: the faults go between the service and what it uses, so name at least "
            "one (--postgres VAR or --redis VAR, VAR the variable that receives its URL)"
        )
    for dep in answers.dependencies:
        bad = [v for v in dep.env if not _VAR.match(v)] or ([] if dep.env else ["(none)"])
        if bad:
            problems.append(
                f"--{dep.kind} {','.join(dep.env)!r}: {', '.join(bad)} is not an environment "
                "variable name (letters, digits, '_'; several separated by commas)"
            )
    for var in answers.env:
        if not _VAR.match(var):
            problems.append(f"--env {var!r}: not an environment variable name (give NAME=VALUE)")
    if answers.latency_ms <= 0:
        problems.append(f"--latency-ms {answers.latency_ms}: give a positive number of ms")
    if answers.writes is not None:
        problems.extend(_writes_problems(answers.writes))
    return problems


def _writes_problems(writes: Writes) -> list[str]:
    problems = []
    if not writes.path.startswith("/"):
        problems.append(f"--write {writes.path!r}: give the path writes are POSTed to, e.g. /items")
    try:
        json.loads(writes.body.replace(N, "0"))
    except ValueError as exc:
        problems.append(
            f"--body {writes.body!r} is not JSON once {N} is a number ({exc}): e.g. "
            "'{\"n\": {n}}'"
        )
    if not writes.key or any(not part for part in writes.key.split(".")):
        problems.append(f"--key {writes.key!r}: give the dotted path of the id, e.g. data.id")
    if not writes.read.startswith("/") or KEY not in writes.read:
        problems.append(
            f"--read {writes.read!r}: give the path that reads one write back, with {KEY} where "
            "its id goes, e.g. /items/{key}"
        )
    return problems


def plan(answers: Answers) -> dict[str, str]:
    """The files to write, by path relative to where ``chaosgate`` runs. Call :func:`check`
    first: the answers are taken as valid."""
    files = {
        f"scenarios/{answers.name}.yaml": _scenario(answers),
        f"runbooks/{answers.runbook_id}.md": _runbook(answers),
    }
    if answers.writes is not None:
        files[_locustfile(answers)] = _LOCUSTFILE.format(name=answers.name)
    return files


def write_files(files: Mapping[str, str], root: Path, *, force: bool = False) -> list[Path]:
    """Write ``files`` under ``root``; an existing file is refused (all of them named, nothing
    written) unless ``force``. Raises FileExistsError."""
    paths = [root / rel for rel in files]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"{names} already exist: nothing was written (--force replaces)")
    for path, text in zip(paths, files.values(), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return paths


# --- the scenario ---------------------------------------------------------------------------


def _q(value: object) -> str:
    """A YAML scalar (JSON is YAML): strings quoted, ``${...}`` kept as written."""
    return json.dumps(value, ensure_ascii=False)


def _flow(mapping: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k}: {_q(v)}" for k, v in mapping.items()) + "}"


def _ports(text: str, name: str) -> str:
    return text.replace(PORT, f"${{services.{name}.port}}")


@dataclass(frozen=True)
class _Dep:
    kind: Literal["postgres", "redis"]
    service: str  # the dependency's service: postgres, redis, postgres2...
    proxy: str  # its proxy: db, cache, db2...
    label: str  # PostgreSQL (db)
    env: tuple[str, ...]


def _deps(answers: Answers) -> list[_Dep]:
    seen: dict[str, int] = {}
    deps = []
    for dep in answers.dependencies:
        seen[dep.kind] = seen.get(dep.kind, 0) + 1
        suffix = "" if seen[dep.kind] == 1 else str(seen[dep.kind])
        title, proxy = _KINDS[dep.kind]
        deps.append(
            _Dep(dep.kind, dep.kind + suffix, proxy + suffix, f"{title} ({proxy}{suffix})", dep.env)
        )
    return deps


@dataclass(frozen=True)
class _Timeline:
    """Seconds from the method's start: each dependency slow for 3 s, then down for 3 s."""

    faults: list[tuple[_Dep, float, float]]  # dependency, slow from, down from
    ends_s: float  # the last fault is over

    @classmethod
    def of(cls, deps: Sequence[_Dep]) -> _Timeline:
        faults = [(dep, 2.0 + 8 * i, 6.0 + 8 * i) for i, dep in enumerate(deps)]
        return cls(faults, faults[-1][2] + 3.0)


def _scenario(a: Answers) -> str:
    deps = _deps(a)
    times = _Timeline.of(deps)
    health = {"type": "http", "service": a.name, "path": a.health}
    lines = [
        f"# A starter scenario for {a.name}, written by `chaosgate init`: each dependency",
        "# turns slow, then unreachable (through Toxiproxy), while the runbook is drilled under",
        "# the first outage. Edit it as your own: longer faults, your real health check, more",
        f"# writes. Check it: `chaosgate validate scenarios/{a.name}.yaml`; run: `chaosgate run`.",
        f"id: {a.scenario_id}",
        f"title: {_q(f'{a.name} — its dependencies slow, then unreachable')}",
        "",
        "services:",
    ]
    for dep in deps:
        extra = f", database: {a.name.replace('-', '_')}" if dep.kind == "postgres" else ""
        lines.append(f"  {dep.service}: {{kind: {dep.kind}{extra}}}")
    lines += ["  toxiproxy: {kind: toxiproxy}", f"  {a.name}:"]
    lines.append(f"    command: [{', '.join(_q(_ports(w, a.name)) for w in a.command)}]")
    if a.before_start:
        before = ", ".join(_q(_ports(w, a.name)) for w in a.before_start)
        lines.append(f"    before_start: [{before}]  # once, not when restarted")
    env = {var: f"${{proxies.{dep.proxy}.url}}" for dep in deps for var in dep.env}
    env.update({k: _ports(v, a.name) for k, v in a.env.items()})
    lines.append("    env:")
    lines += [f"      {k}: {_q(v)}" for k, v in env.items()]
    lines.append(f"    ready: {{http: {_q(a.health)}}}")
    if a.image:
        lines.append(f"    image: {_q(a.image)}  # with --env docker")
    lines += ["", "proxies:  # the service reaches each dependency through Toxiproxy"]
    lines += [f"  {dep.proxy}: {{upstream: {dep.service}}}" for dep in deps]
    lines += [
        "",
        "steady_state:",
        f"  - name: {_q(f'{a.name} answers its health check')}",
        f"    probe: {_flow(health)}",
        "    expect: {equals: 200}",
        "",
        "method:",
    ]
    if a.writes is not None:
        lines += _load_step(a, times)
    first = times.faults[0]
    for dep, slow, down in times.faults:
        lines += [
            f"  - name: {_q(f'{dep.label} slow ({a.latency_ms} ms)')}",
            f"    at_s: {slow:g}",
            "    duration_s: 3",
            f"    fault: {{type: toxic, proxy: {dep.proxy}, toxic: latency, "
            f"attributes: {{latency: {a.latency_ms}}}}}",
            f"  - name: {_q(f'{dep.label} unreachable')}",
            f"    at_s: {down:g}",
            "    duration_s: 3",
            f"    fault: {{type: proxy_down, proxy: {dep.proxy}}}",
        ]
        if dep is first[0]:
            lines += [
                "  - {name: the on-call reads the symptoms and diagnoses, "
                f"at_s: {down:g}, runbook: diagnose}}",
                "  - {name: the on-call resolves and waits for recovery, "
                f"at_s: {down:g}, runbook: resolve}}",
                f"  - {{name: the on-call rolls back, at_s: {down:g}, runbook: rollback}}",
            ]
    lines += [
        "",
        "assertions:",
        f"  - name: {_q(f'{a.name} is healthy again after the faults')}",
        "    type: eventually",
        f"    from_s: {times.ends_s:g}",
        f"    within_s: {times.ends_s + 30:g}",
        "    check:",
        "      name: health is 200",
        f"      probe: {_flow(health)}",
        "      expect: {equals: 200}",
    ]
    if a.writes is not None:
        lines += _invariant(a)
    # The runbook's 30m target, compressed to the incident's span and 30 s to recover in.
    compress = int(1800 // (times.ends_s - first[1] + 30))
    lines += [
        "",
        "runbook:",
        f"  path: runbooks/{a.runbook_id}.md",
        f'  env: {{{a.url_var}: "${{services.{a.name}.url}}"}}  # the on-call\'s shell',
        f"  compress: {compress}  # its 30m target becomes {1800 / compress:.1f} s",
        f"  incident_starts: {_q(f'{first[0].label} slow ({a.latency_ms} ms)')}",
        "  recovered:",
        "    name: health is 200",
        f"    probe: {_flow(health)}",
        "    expect: {equals: 200}",
    ]
    return "\n".join(lines) + "\n"


def _locustfile(a: Answers) -> str:
    return f"loads/{a.name.replace('-', '_')}_writers.py"


def _load_step(a: Answers, times: _Timeline) -> list[str]:
    assert a.writes is not None
    env = {
        "CG_RPS_PER_USER": "5",
        "CG_WRITE_PATH": a.writes.path,
        "CG_WRITE_BODY": a.writes.body,
    }
    if a.headers:
        env["CG_HEADERS"] = json.dumps(dict(a.headers))
    return [
        "  - name: writers",
        "    at_s: 0",
        f"    duration_s: {times.ends_s + 2:g}",
        "    load:",
        "      type: locust",
        f"      service: {a.name}",
        f"      locustfile: {_locustfile(a)}",
        "      users: 2",
        "      spawn_rate: 2",
        "      env:",
        *[f"        {k}: {_q(v)}" for k, v in env.items()],
        f"      history: {{json_path: {_q(a.writes.key)}}}  # each write acknowledged, by its id",
    ]


def _invariant(a: Answers) -> list[str]:
    assert a.writes is not None
    read = {
        "type": "http",
        "service": a.name,
        "path": a.writes.read.replace(KEY, "${key}"),
        **({"headers": dict(a.headers)} if a.headers else {}),
    }
    return [
        "",
        "invariants:",
        f"  - name: {_q(f'every write {a.name} acknowledged reads back afterwards, once')}",
        "    type: acknowledged",
        "    steps: [writers]",
        "    unique: true",
        "    each:",
        "      name: the write reads back",
        f"      probe: {_flow(read)}",
        "      expect: {equals: 200}",
    ]


# --- the runbook and the load ---------------------------------------------------------------


def _runbook(a: Answers) -> str:
    deps = ", ".join(dep.label for dep in _deps(a))
    return f"""---
id: {a.runbook_id}
title: {_q(f"{a.name}: a dependency is slow or unreachable")}
severity: P2
owner: {a.name}-oncall
scenarios: [{a.scenario_id}]
time_to_resolve: 30m
---

# {a.name}: a dependency is slow or unreachable

{a.name} depends on {deps}. This skeleton was written by `chaosgate init`; make it your team's:
replace the `human` steps with the commands your on-call runs. `chaosgate runbooks lint` checks
every command offline, and `chaosgate run scenarios/{a.name}.yaml` runs them under the outage.

## Symptoms

```text step=alerted human
Errors or slow answers from {a.name}; its health check ({a.health}) fails or is slow.
```

## Diagnosis

```text step=which-dependency human
Find the dependency that fails: {a.name}'s logs name it; check its own dashboards.
```

## Resolution

1. Bring the dependency back (fail over, restart, free what it lacks), or wait for it:

```text step=restore-dependency human
Restore the failing dependency, or escalate to its owners.
```

2. Check that {a.name} is healthy again:

```sh step=healthy-again within=60s
chaosgate probe ${{{a.url_var}}}{a.health}
```

## Rollback

```text step=undo-workarounds human
Undo what you changed to ride the incident out (raised timeouts, disabled features).
```
"""


_LOCUSTFILE = '''"""Writers for {name}, written by `chaosgate init`: each user POSTs a
write at a constant rate. The scenario's load step sets what and where (CG_WRITE_PATH,
CG_WRITE_BODY with {{n}} a number per write, CG_HEADERS as JSON, CG_RPS_PER_USER); chaosgate
records every answer in its history of operations, so the acknowledged invariant can read each
acknowledged write back.

Only Locust imports this file: it patches the interpreter with gevent.
"""

from __future__ import annotations

import itertools
import json
import os

from locust import HttpUser, constant_throughput, task

_PATH = os.environ["CG_WRITE_PATH"]
_BODY = os.environ.get("CG_WRITE_BODY", '{{"n": {{n}}}}')
_HEADERS = json.loads(os.environ.get("CG_HEADERS", "{{}}"))
_numbers = itertools.count()


class Writer(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "5")))

    @task
    def write(self) -> None:
        body = json.loads(_BODY.replace("{{n}}", str(next(_numbers))))
        self.client.post(_PATH, json=body, headers=_HEADERS)
'''
