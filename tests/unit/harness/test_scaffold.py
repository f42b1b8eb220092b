"""``chaosgate init``: what it writes validates and its runbook lints clean, for each shape of
answers; every bad answer is named with what to give instead, and nothing is written then; a
file that exists is never overwritten unless asked; at a terminal it asks for what is missing."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from harness.runbooks import lint_runbooks
from harness.scaffold import Answers, Dependency, Writes, check, plan, write_files
from harness.scenario.loader import load_scenario

KINTO = Answers(
    name="kinto",
    command=("kinto", "start", "--ini", "kinto.ini", "--port", "{port}"),
    health="/v1/__heartbeat__",
    dependencies=(Dependency("postgres", ("KINTO_STORAGE_URL", "KINTO_PERMISSION_URL")),),
    before_start=("kinto", "migrate", "--ini", "kinto.ini"),
    headers={"Authorization": "Basic d3JpdGVyOnNlY3JldA=="},
    writes=Writes(
        "/v1/buckets/default/collections/notes/records",
        '{"data": {"n": {n}}}',
        "data.id",
        "/v1/buckets/default/collections/notes/records/{key}",
    ),
)
TWO_DEPS = Answers(
    name="orders-api",
    command=("orders", "serve"),
    env={"PORT": "{port}"},
    health="/health",
    dependencies=(Dependency("postgres", ("DATABASE_URL",)), Dependency("redis", ("CACHE",))),
    image="registry.example/orders:1.2",
)


def chaosgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("answers", [KINTO, TWO_DEPS], ids=["kinto", "two-deps-no-writes"])
def test_what_it_writes_validates_and_lints_clean(tmp_path: Path, answers: Answers) -> None:
    assert check(answers) == []
    write_files(plan(answers), tmp_path)
    scenario = load_scenario(tmp_path / f"scenarios/{answers.name}.yaml")
    assert scenario.id == answers.scenario_id
    [result] = lint_runbooks(  # paths in a scenario are relative to where chaosgate runs
        [tmp_path / f"runbooks/{answers.runbook_id}.md"], {scenario.id: scenario}, root=tmp_path
    )
    assert result.problems == []
    faults = [(s.name, s.fault.type) for s in scenario.method if s.fault is not None]
    per_dep = len(answers.dependencies)
    assert [kind for _, kind in faults] == ["toxic", "proxy_down"] * per_dep
    # each proxy stands between the service and a dependency, and the service uses it
    service = scenario.services[answers.name]
    assert {p.upstream for p in scenario.proxies.values()} == {
        n for n, s in scenario.services.items() if s.kind in ("postgres", "redis")
    }
    assert all("${proxies." in service.env[v] for d in answers.dependencies for v in d.env)
    assert service.image == answers.image
    assert scenario.runbook is not None
    assert scenario.runbook.incident_starts == faults[0][0]


def test_faults_follow_each_other_and_the_target_leaves_time_to_recover(tmp_path: Path) -> None:
    write_files(plan(TWO_DEPS), tmp_path)
    scenario = load_scenario(tmp_path / "scenarios/orders-api.yaml")
    windows = [
        (s.at_s, s.at_s + (s.duration_s or 0)) for s in scenario.method if s.fault is not None
    ]
    assert all(end < nxt for (_, end), (nxt, _) in itertools.pairwise(windows))
    assert scenario.runbook is not None
    target_s = 1800 / scenario.runbook.compress  # the runbook's 30m
    assert target_s >= windows[-1][1] - windows[0][0] + 30
    [healthy] = scenario.assertions
    assert healthy.from_s == windows[-1][1]


def test_with_writes_every_acknowledged_write_is_read_back(tmp_path: Path) -> None:
    files = plan(KINTO)
    write_files(files, tmp_path)
    scenario = load_scenario(tmp_path / "scenarios/kinto.yaml")
    [load] = [s for s in scenario.method if s.load is not None]
    assert load.load is not None and load.load.history is not None
    assert load.load.history.json_path == "data.id"
    assert (tmp_path / load.load.locustfile).is_file()
    compile(files[load.load.locustfile], load.load.locustfile, "exec")  # it is Python
    [inv] = scenario.invariants
    assert inv.type == "acknowledged" and inv.unique and inv.steps == [load.name]
    assert inv.each is not None and inv.each.probe.type == "http"
    assert inv.each.probe.path == "/v1/buckets/default/collections/notes/records/${key}"
    assert inv.each.probe.headers == dict(KINTO.headers)
    assert load.load.env["CG_WRITE_BODY"] == '{"data": {"n": {n}}}'


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": "Orders API"}, "--name 'Orders API'"),
        ({"command": ("orders", "serve")}, "does not say where the port goes"),
        ({"health": "health"}, "--health 'health'"),
        ({"dependencies": ()}, "no dependency"),
        ({"dependencies": (Dependency("redis", ("cache-url",)),)}, "cache-url is not"),
        ({"dependencies": (Dependency("redis", ()),)}, "(none) is not"),
        ({"env": {"1X": "{port}"}}, "--env '1X'"),
        ({"latency_ms": 0}, "--latency-ms 0"),
        ({"writes": Writes("/w", "{n: {n}}", "id", "/w/{key}")}, "--body '{n: {n}}' is not JSON"),
        ({"writes": Writes("/w", '{"n": {n}}', "id", "/w/1")}, "--read '/w/1'"),
        ({"writes": Writes("/w", '{"n": {n}}', "a..b", "/w/{key}")}, "--key 'a..b'"),
        ({"writes": Writes("w", '{"n": {n}}', "id", "/w/{key}")}, "--write 'w'"),
    ],
)
def test_each_bad_answer_is_named(change: dict[str, object], named: str) -> None:
    base = {**KINTO.__dict__, **change}
    problems = check(Answers(**base))  # type: ignore[arg-type]
    assert len(problems) == 1 and named in problems[0], problems


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    files = plan(KINTO)
    (tmp_path / "runbooks").mkdir()
    mine = tmp_path / "runbooks/kinto-dependency-down.md"
    mine.write_text("my runbook")
    with pytest.raises(FileExistsError, match=r"kinto-dependency-down\.md already exist"):
        write_files(files, tmp_path)
    assert mine.read_text() == "my runbook"
    assert not (tmp_path / "scenarios").exists()  # nothing else was written either
    write_files(files, tmp_path, force=True)
    assert mine.read_text() == files["runbooks/kinto-dependency-down.md"]


def test_the_cli_names_what_is_missing_or_wrong_and_writes_nothing(tmp_path: Path) -> None:
    missing = chaosgate(tmp_path, "init", "--name", "kinto", "--health", "/")
    assert missing.returncode == 2
    assert "--command is missing" in missing.stderr
    wrong = chaosgate(
        tmp_path,
        *("init", "--no-input", "--name", "x", "--command", "x serve", "--health", "/h"),
        *("--header", "no colon", "--write", "/w"),
    )
    assert wrong.returncode == 2, wrong.stderr
    said = " ".join(wrong.stderr.split())
    assert "--header 'no colon': give 'Name: value'" in said
    assert "--write and --read go together" in said
    assert "does not say where the port goes" in said and "no dependency" in said
    assert "Traceback" not in wrong.stderr
    assert list(tmp_path.iterdir()) == []


def test_at_a_terminal_it_asks_for_what_the_flags_do_not_give(tmp_path: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "harness.cli", "init"],
        cwd=str(tmp_path),
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
        encoding="utf-8",
        timeout=30,
    )
    try:
        for question, answer in [
            ("service's name", "shop-api"),
            ("How it starts", "shop serve --port {port}"),
            ("health check's path", "/health/live"),
            ("PostgreSQL URL", "DATABASE_URL"),
            ("Redis URL", ""),
            ("acknowledges writes", "/orders"),
            ("reads one back", "/orders/{key}"),
        ]:
            child.expect(question)
            child.sendline(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    scenario = load_scenario(tmp_path / "scenarios/shop-api.yaml")
    assert scenario.services["shop-api"].env == {"DATABASE_URL": "${proxies.db.url}"}
    assert (tmp_path / "loads/shop_api_writers.py").is_file()


def test_the_readme_walk_through_writes_what_validates(tmp_path: Path) -> None:
    """The README's walk-through as written (``nox -s example`` runs it whole, against Kinto)."""
    readme = Path(__file__).resolve().parents[3] / "README.md"
    after = readme.read_text().split("<!-- walk-through:", 1)[1]
    block = after.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()
    ]
    assert [c[:2] for c in commands] == [
        ["chaosgate", "init"],
        ["chaosgate", "validate"],
        ["chaosgate", "runbooks"],
        ["chaosgate", "run"],
    ]
    for words in commands[:3]:  # the run itself needs Kinto
        done = chaosgate(tmp_path, *words[1:])
        assert done.returncode == 0, done.stdout + done.stderr
    scenario = load_scenario(tmp_path / "scenarios/kinto.yaml")
    assert scenario.services["kinto"].env["KINTO_STORAGE_POOL_TIMEOUT"] == "2"
