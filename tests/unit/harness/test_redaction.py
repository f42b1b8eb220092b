"""Every secret form a security review found leaking is kept out of the journal, the HTML and
JUnit reports, the service logs and the console (the CI log)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.actions import ActionResult
from harness.exits import Environment
from harness.report.redact import REDACTED, Redactor
from harness.run import Kinds
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario
from harness.suite import run_suite
from harness.testing import FakeProvisioner, acting, answering

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxf0pemsecretkeymaterial\n"
    "-----END RSA PRIVATE KEY-----"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlc2VjcmV0"

# (text as a system or a command prints it, the secret part that must not survive)
FORMS = {
    "password-only Redis URL": ("REDIS_URL=redis://:pw-redis-777@127.0.0.1:6379/0", "pw-redis-777"),
    "Slack webhook URL": (
        "posting to https://hooks.slack.com/services/T0AAA/B0BBB/slack-hook-secret",
        "slack-hook-secret",
    ),
    "X-Api-Key header": ("X-Api-Key: api-key-value-42", "api-key-value-42"),
    "Cookie header": ("Cookie: session=cookie-secret-99; theme=dark", "cookie-secret-99"),
    "curl -u": ("curl -u admin:curl-pass-55 http://127.0.0.1:8000/", "curl-pass-55"),
    "JWT": (f"token {JWT} expired", JWT),
    "AWS access key id": ("aws key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    "Google API key": (f"key=AIza{'x' * 35}", "AIza" + "x" * 35),
    "GitHub token": (f"GITHUB ghp_{'a' * 36}", "ghp_" + "a" * 36),
    "Slack bot token": ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    "PEM private key": (f"loaded {PEM} ok", "secretkeymaterial"),
    "?token= query": ("GET /export?token=query-token-31&format=csv", "query-token-31"),
    "?password= query": ("GET /login?user=jane&password=query-pw-32", "query-pw-32"),
    "libpq password=": ("host=db port=5432 user=shop password=libpq-pw-33", "libpq-pw-33"),
}


@pytest.mark.parametrize(("text", "secret"), FORMS.values(), ids=FORMS.keys())
def test_each_secret_form_is_redacted(text: str, secret: str) -> None:
    clean = Redactor().text(text)
    assert secret not in clean
    assert REDACTED in clean


def test_ordinary_text_is_left_alone() -> None:
    text = "order 1764445433123 paid; GET /orders?page=2&status=paid; user=shop port=5432"
    assert Redactor().text(text) == text


def test_a_variable_a_secret_is_built_from_is_redacted_once_captured() -> None:
    scenario = Scenario.model_validate(
        {
            "id": "s",
            "title": "t",
            "services": {"app": {"command": ["app"]}},
            "setup": [
                {
                    "type": "http",
                    "service": "app",
                    "headers": {"Authorization": "Bearer ${vars.session}"},
                }
            ],
        }
    )
    redactor = Redactor.for_scenario(scenario)
    assert redactor.text("sess-value-9999") == "sess-value-9999"  # not known yet
    redactor.learn({"session": "sess-value-9999", "order": "1234"})
    assert redactor.text("sess-value-9999 for order 1234") == f"{REDACTED} for order 1234"


SECRETS = {
    "SHOP_ADMIN_TOKEN": "admin-token-1111",
    "REDIS_URL": "redis://:pw-redis-777@127.0.0.1:1/0",
    "SHOP_ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/slack-hook-secret",
}
LEAKS = ["admin-token-1111", "pw-redis-777", "slack-hook-secret", "sess-value-9999", JWT]


class Logging(FakeProvisioner):
    """A backend whose app prints every secret to its log, as a careless service would."""

    def start(self, scenario: Scenario, run_dir: Path) -> Any:
        stack = super().start(scenario, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "app.log").write_text(" ".join([*SECRETS.values(), JWT, "sess-value-9999"]))
        return stack


def test_no_secret_reaches_journal_reports_logs_or_console(tmp_path: Path) -> None:
    spec = Scenario.model_validate(
        {
            "id": "leaky",
            "title": "leaky",
            "services": {"app": {"command": ["app"], "env": SECRETS}},
            "setup": [
                {"type": "http", "service": "app", "path": "/login"},
                {
                    "type": "http",
                    "service": "app",
                    "path": "/me",
                    "headers": {"Authorization": "Bearer ${vars.session}"},
                },
            ],
            "method": [],
        }
    )

    def act(action: Any) -> ActionResult:
        if action.path == "/login":
            return ActionResult(True, "logged in", captured={"session": "sess-value-9999"})
        said = " ".join([*SECRETS.values(), JWT, "with", "sess-value-9999"])
        return ActionResult(False, f"500 from /me: {said}")

    console = io.StringIO()
    run_suite(
        [LoadedScenario(Path("leaky.yaml"), spec)],
        [],
        seed=1,
        time_scale=1.0,
        env=Environment.local,
        report_dir=tmp_path,
        out=Console(file=console, width=400),
        err=Console(file=console, width=400),
        jobs=1,
        provisioner=Logging,
        kinds=Kinds(probes=answering(lambda _p: 200), actions=acting(act)),
    )
    (run_dir,) = tmp_path.glob("run-*")
    outputs = {p.name: p.read_text() for p in run_dir.rglob("*") if p.is_file()}
    outputs["console"] = console.getvalue()
    assert {"journal.json", "report.html", "junit.xml", "app.log", "console"} <= set(outputs)
    assert "500 from /me" in outputs["console"]  # the reason was printed, redacted
    for name, text in outputs.items():
        for leak in LEAKS:
            assert leak not in text, (name, leak)
