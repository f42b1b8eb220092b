"""Scenario files: valid ones load into frozen models; broken ones report every problem with its
YAML path and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from harness.cli import EXIT_ERRORED, app
from harness.errors import ScenarioInvalid
from harness.scenario import load_scenario, load_scenarios
from harness.scenario.schema import scenario_schema

ROOT = Path(__file__).resolve().parents[4]

VALID = """\
id: redis-latency
title: Redis latency during intake
runbook: runbooks/webhook-loop.md
services:
  redis:
    kind: redis
  toxiproxy:
    kind: toxiproxy
  api:
    command: [shop, serve, --port, "${services.api.port}"]
    env:
      REDIS_URL: "${proxies.redis.url}"
    depends_on: [redis, toxiproxy]
    ready: {http: /health}
proxies:
  redis: {upstream: redis}
steady_state:
  - name: api is healthy
    probe: {type: http, service: api, path: /health}
    expect: {equals: 200}
  - name: queue is short
    probe: {type: redis, service: redis, command: [LLEN, "dramatiq:orders"]}
    expect: {max: 10}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_scenario_loads_into_frozen_models(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    assert scenario.id == "redis-latency"
    assert scenario.services["api"].depends_on == ["redis", "toxiproxy"]
    assert scenario.steady_state[1].probe.type == "redis"
    with pytest.raises(ValidationError):
        scenario.services["api"].ready_timeout_s = 1  # type: ignore[misc]


def test_every_problem_is_reported_with_path_and_line(tmp_path: Path) -> None:
    broken = """\
id: Bad Id
title: ""
services:
  api:
    env: {A: 1}
    ready_timeout_s: -1
    colour: blue
  db:
    kind: postgres
    command: [postgres]
  worker:
    env: {}
steady_state:
  - name: x
    probe: {type: http, service: api, path: 7}
    expect: {}
  - name: y
    probe: {type: gopher, service: api}
    expect: {equals: 1}
"""
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(write(tmp_path, broken))
    found = {(where, line) for where, line, _ in info.value.problems}
    assert ("id", 1) in found
    assert ("title", 2) in found
    assert ("services.api.env.A", 5) in found
    assert ("services.api.ready_timeout_s", 6) in found
    assert ("services.api.colour", 7) in found
    assert ("services.db", 8) in found  # kind postgres takes no command
    assert ("services.worker", 11) in found  # kind process needs a command
    assert ("steady_state.0.probe.path", 15) in found
    assert ("steady_state.0.expect", 16) in found
    assert ("steady_state.1.probe", 18) in found
    text = str(info.value)
    assert "s.yaml:7: services.api.colour: Extra inputs are not permitted" in text
    assert "type" in next(m for w, _, m in info.value.problems if w == "steady_state.1.probe")


def test_references_and_cycles_are_checked(tmp_path: Path) -> None:
    text = VALID.replace("depends_on: [redis, toxiproxy]", "depends_on: [redis, queue]")
    text = text.replace("upstream: redis", "upstream: cache")
    text += (
        "  - name: z\n"
        "    probe: {type: sql, service: pg, query: select 1}\n"
        "    expect: {equals: 1}\n"
    )
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert "depends_on names unknown service 'queue'" in message
    assert "upstream names unknown service 'cache'" in message
    assert "steady_state.2.probe.service names unknown service 'pg'" in message

    cyclic = VALID.replace("kind: redis", "kind: redis\n    depends_on: [api]")
    with pytest.raises(
        ScenarioInvalid, match=r"cycle: (api -> redis -> api|redis -> api -> redis)"
    ):
        load_scenario(write(tmp_path, cyclic))


def test_duplicate_keys_are_problems_not_silent(tmp_path: Path) -> None:
    text = VALID.replace("title: Redis latency during intake", "title: A\ntitle: B")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(write(tmp_path, text))
    assert ("title", 3, "duplicate key 'title' (an earlier value would be ignored)") in (
        info.value.problems
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("id: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "a scenario file is a mapping"),
    ],
)
def test_unparsable_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioInvalid, match=message):
        load_scenario(write(tmp_path, text))


def test_directories_load_all_and_keep_going_past_broken_files(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, "id: x\n", "b.yml")
    write(tmp_path, VALID, "c.yaml")  # same id as a.yaml
    write(tmp_path, "not a scenario", "notes.txt")
    loaded, broken = load_scenarios([tmp_path])
    assert [item.path.name for item in loaded] == ["a.yaml"]
    assert sorted(Path(b.path).name for b in broken) == ["b.yml", "c.yaml"]
    assert "already used by" in str(next(b for b in broken if b.path.endswith("c.yaml")))


def test_cli_validate_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    good = write(tmp_path, VALID, "good.yaml")
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0
    assert "ok" in result.output
    assert "redis-latency" in runner.invoke(app, ["list", str(good)]).output

    bad = write(tmp_path, "id: x\ntitle: t\nservices: {}\n", "bad.yaml")
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == EXIT_ERRORED
    assert "bad.yaml:3: services" in " ".join(result.output.split())

    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == EXIT_ERRORED
    assert "no such file or directory" in missing.output


def test_published_schema_matches_the_model() -> None:
    published = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())
    assert published == scenario_schema(), "run: chaosgate schema > docs/scenario.schema.json"
    assert published["additionalProperties"] is False
    assert set(published["required"]) == {"id", "title", "services"}


DRILL = """\
runbook:
  path: runbooks/webhook-loop.md
  env: {REDIS_URL: "${services.redis.url}"}
  compress: 60
  recovered:
    name: api healthy
    probe: {type: http, service: api, path: /health}
    expect: {equals: 200}
method:
  - {name: redis down, at_s: 0, duration_s: 5, fault: {type: proxy_down, proxy: redis}}
  - {name: diagnose, at_s: 1, runbook: diagnose}
  - {name: resolve, at_s: 6, runbook: resolve}
  - {name: roll back, at_s: 8, runbook: rollback}
"""


def test_a_runbook_drill_loads_with_its_phases(tmp_path: Path) -> None:
    text = VALID.replace("runbook: runbooks/webhook-loop.md\n", "") + DRILL
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.runbook_path == "runbooks/webhook-loop.md"
    assert [s.runbook for s in scenario.method[1:]] == ["diagnose", "resolve", "rollback"]
    assert load_scenario(write(tmp_path, VALID)).runbook_path == "runbooks/webhook-loop.md"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  - {name: roll back, at_s: 8, runbook: rollback}\n",
            "",
            "the runbook drill needs a method step with runbook: rollback",
        ),
        (
            "resolve, at_s: 6",
            "resolve, at_s: 0.5",
            "runbook phases run in order: diagnose, resolve, rollback",
        ),
        (
            "at_s: 8, runbook: rollback",
            "at_s: 8, runbook: resolve",
            "more than one runbook: resolve step",
        ),
        (
            "compress: 60",
            "compress: 60\n  incident_starts: the flood",
            "runbook.incident_starts names no method step: 'the flood'",
        ),
        (
            "{name: diagnose, at_s: 1, runbook: diagnose}",
            "{name: diagnose, at_s: 1, duration_s: 3, runbook: diagnose}",
            "duration_s applies to faults and load only",
        ),
        ("runbook: diagnose}", "runbook: diagnosis}", "Input should be 'diagnose', 'resolve'"),
        (
            "service: api, path: /health}\n    expect: {equals: 200}\nmethod",
            "service: web, path: /health}\n    expect: {equals: 200}\nmethod",
            "runbook.recovered.probe.service names unknown service 'web'",
        ),
    ],
)
def test_a_broken_drill_is_reported(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = VALID.replace("runbook: runbooks/webhook-loop.md\n", "") + DRILL
    assert old in text
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(write(tmp_path, text.replace(old, new)))
    assert message in str(info.value)


def test_runbook_steps_need_a_drill(tmp_path: Path) -> None:
    text = VALID + "method:\n  - {name: diagnose, at_s: 1, runbook: diagnose}\n"
    with pytest.raises(ScenarioInvalid, match="method has runbook steps: make runbook a drill"):
        load_scenario(write(tmp_path, text))


def test_validate_refuses_a_reference_to_nothing_with_its_line(tmp_path: Path) -> None:
    text = VALID.replace('REDIS_URL: "${proxies.redis.url}"', 'REDIS_URL: "${services.nope.url}"')
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == EXIT_ERRORED
    line = text.splitlines().index('      REDIS_URL: "${services.nope.url}"') + 1
    assert (
        f"{path}:{line}: services.api.env.REDIS_URL: ${{services.nope.url}}: no service 'nope'"
        in (" ".join(result.output.split()))
    )


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("${proxies.cache.url}", "no proxy 'cache' (known: redis)"),
        ("${services.redis.smtp_port}", "services have host, port, url"),
        ("${vars.order}", "no action captures 'order' (captured: none is captured)"),
        ("${scaled:soon}", "'soon' is not a number of seconds"),
        ("${servics.redis.url}", "is not a reference; use ${services.NAME.host|port|url}"),
    ],
)
def test_every_bad_reference_is_named(tmp_path: Path, reference: str, says: str) -> None:
    text = VALID.replace("${proxies.redis.url}", reference)
    with pytest.raises(ScenarioInvalid) as broken:
        load_scenario(write(tmp_path, text))
    assert says in str(broken.value)


def test_every_documented_reference_form_is_accepted(tmp_path: Path) -> None:
    forms = (
        "${services.api.host}:${proxies.redis.port}/${run.dir}/${run.seed}/${env.HOME}/${scaled:2}"
    )
    scenario = load_scenario(write(tmp_path, VALID.replace("${proxies.redis.url}", forms)))
    assert scenario.services["api"].env["REDIS_URL"] == forms


def test_an_eventually_window_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    text = (
        VALID
        + """\
assertions:
  - name: recovers
    type: eventually
    from_s: 18
    within_s: 5.5
    check:
      name: healthy
      probe: {type: http, service: api, path: /health}
      expect: {equals: 200}
"""
    )
    with pytest.raises(ScenarioInvalid) as broken:
        load_scenario(write(tmp_path, text))
    assert "within_s 5.5 is not after from_s 18" in str(broken.value)
    assert "give within_s: 23" in str(broken.value)


WITH_DB = VALID.replace(
    "  toxiproxy:\n    kind: toxiproxy\n",
    "  toxiproxy:\n    kind: toxiproxy\n  db:\n    kind: postgres\n    database: shop\n"
    "    template:\n      command: [shop, db, upgrade]\n"
    '      env: {DATABASE_URL: "TEMPLATE_URL"}\n',
)


def test_a_database_template_loads_with_its_own_address_and_the_environment(
    tmp_path: Path,
) -> None:
    text = WITH_DB.replace("TEMPLATE_URL", "${services.db.url}?app=${env.USER}")
    template = load_scenario(write(tmp_path, text)).services["db"].template
    assert template is not None
    assert template.command == ["shop", "db", "upgrade"]
    assert template.timeout_s == 300.0


@pytest.mark.parametrize(
    "reference", ["${services.redis.url}", "${proxies.redis.url}", "${run.dir}", "${run.seed}"]
)
def test_a_database_template_may_not_depend_on_one_scenario(tmp_path: Path, reference: str) -> None:
    with pytest.raises(ScenarioInvalid) as broken:
        load_scenario(write(tmp_path, WITH_DB.replace("TEMPLATE_URL", reference)))
    assert (
        f"services.db.template.env.DATABASE_URL: {reference}: a template is made once and copied"
        in " ".join(str(broken.value).split())
    )


def test_only_a_postgres_service_takes_a_template(tmp_path: Path) -> None:
    text = VALID.replace(
        "  redis:\n    kind: redis\n", "  redis:\n    kind: redis\n    template: {command: [x]}\n"
    )
    with pytest.raises(ScenarioInvalid, match="only a service of kind 'postgres' takes a template"):
        load_scenario(write(tmp_path, text))
