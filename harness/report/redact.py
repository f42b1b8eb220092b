"""Keep secrets and personal data out of everything a run leaves for reviewers: the journal, the
HTML and JUnit reports, and the service logs beside them.

Three sources: the values of the scenario's secret-looking settings and headers (``*_SECRET*``,
``*TOKEN*``, ``*PASSWORD*``, ``*_KEY*``, ``*AUTH*``, ``X-Api-Key``, ``Cookie``, ``*_SID``...),
whatever the text around them; the values captured at run time into ``${vars.NAME}`` that such a
setting is built from (:meth:`Redactor.learn`); and patterns for what a system under test prints
on its own — provider, cloud and chat keys, signing secrets, bearer tokens, JWTs, PEM private
keys, passwords in URLs, query strings, libpq strings and ``curl -u``, webhook URLs, e-mail
addresses, phone numbers and card numbers.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.scenario.model import Scenario

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API[_-]?KEY|HMAC|AUTH|COOKIE"
    r"|SESSION|WEBHOOK_URL|[_-]SID$|[_-]KEY$",
    re.IGNORECASE,
)
_VAR = re.compile(r"\$\{vars\.([^}]+)\}")
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Stripe-style keys and webhook signing secrets; Twilio-style account ids.
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), REDACTED),
    (re.compile(r"\bAC[0-9a-f]{32}\b"), REDACTED),
    # Authorization headers and bearer tokens, wherever they are printed.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {REDACTED}"),
    # Cloud and chat credentials: AWS access key ids, Google API keys, GitHub and Slack tokens.
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), REDACTED),
    # JSON Web Tokens (header.payload.signature, base64url, the header always starts eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # PEM private keys, whole blocks.
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        REDACTED,
    ),
    # Webhook URLs whose path is the credential (Slack, Discord, Teams).
    (
        re.compile(
            r"(https://(?:hooks\.slack\.com|discord(?:app)?\.com/api/webhooks|[\w.-]+\."
            r"webhook\.office\.com))/\S+"
        ),
        rf"\1/{REDACTED}",
    ),
    # A password in a URL: scheme://user:password@host, or scheme://:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), rf"\1:{REDACTED}@"),
    # Secrets in query strings and in key=value strings (libpq's password=...).
    (
        re.compile(
            r"(?i)([?&;](?:access_token|token|password|passwd|secret|api_?key|key|sig|signature"
            r"|auth)=)[^&\s#\"']+"
        ),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(r"(?i)\b(password|passwd|pwd)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s,;\"']+)"),
        rf"\1\2{REDACTED}",
    ),
    # Credential headers however they are printed, and curl -u user:password.
    (
        re.compile(
            r"(?i)\b((?:x-api-key|api-key|cookie|set-cookie|x-auth-token)[\"']?\s*[:=]\s*[\"']?)[^\"'\n]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"((?:^|\s)(?:-u|--user)[ =]+[\"']?[^\s:\"']+):[^\s\"']+"), rf"\1:{REDACTED}"),
    # Personal data: e-mail addresses, phone numbers (E.164), card numbers.
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[email]"),
    (re.compile(r"(?<![\w+])\+[1-9]\d{7,14}\b"), "[phone]"),
    # (card numbers: see _cards, a Luhn check keeps ids and timestamps)
]
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){14,15}\d(?![\d.])")
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words


class Redactor:
    """Replaces known secret values and secret-looking patterns in text."""

    def __init__(self, secrets: Iterable[str] = (), *, secret_vars: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self._secret_vars = frozenset(secret_vars)
        self._lock = threading.Lock()
        self._add(secrets)

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> Redactor:
        """Secrets from every environment the scenario sets: services, actions, probes, loads,
        the runbook drill's shell — and the ``${vars.NAME}`` such a setting is built from."""
        values = _secret_values(_environments(scenario.model_dump(mode="python")))
        return cls(values, secret_vars={m for v in values for m in _VAR.findall(v)})

    def learn(self, captured: Mapping[str, str]) -> None:
        """Variables captured at run time: those a secret setting is built from, or whose own
        name looks secret, are redacted from now on (the runner calls this as it captures)."""
        self._add(
            value
            for name, value in captured.items()
            if name in self._secret_vars or _SECRET_NAME.search(name)
        )

    def _add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            new = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH and "${" not in s}
            if new <= self._values:
                return
            self._values |= new
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._literal = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, text: str) -> str:
        literal = self._literal
        if literal is not None:
            text = literal.sub(REDACTED, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return _CARD.sub(_card, text)

    def value(self, value: Any) -> Any:
        """A copy of ``value`` with every string redacted (dicts, lists, dataclasses)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = dataclasses.fields(value)
            changes = {f.name: self.value(getattr(value, f.name)) for f in fields}
            return dataclasses.replace(value, **changes)
        return value

    def file(self, path: Path) -> None:
        """Rewrite a text file redacted (a service log); a missing file is left alone."""
        try:
            raw = path.read_bytes()
        except OSError:
            return
        text = raw.decode(errors="replace")
        redacted = self.text(text)
        if redacted != text:
            tmp = path.with_name(path.name + ".redacting")
            tmp.write_text(redacted)
            tmp.replace(path)


def _card(match: re.Match[str]) -> str:
    """15-16 digit numbers that pass the Luhn check look like card numbers."""
    digits = [int(c) for c in match.group(0) if c.isdigit()]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return "[card]" if total % 10 == 0 else match.group(0)


def _environments(node: Any) -> Iterable[Mapping[str, Any]]:
    """Every ``env`` mapping (and header mapping) anywhere in a scenario's data."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("env", "headers") and isinstance(value, Mapping):
                yield value
            else:
                yield from _environments(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _environments(item)


def _secret_values(environments: Iterable[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for env in environments:
        for name, value in env.items():
            if not isinstance(value, str):
                continue
            if _SECRET_NAME.search(str(name)):
                found.add(value)
                # "Bearer <token>" headers: the token alone is the secret too.
                if " " in value:
                    found.add(value.rsplit(" ", 1)[1])
    return found
