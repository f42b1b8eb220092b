"""Keep secrets and personal data out of everything a run leaves for reviewers: the journal, the
HTML and JUnit reports, and the service logs beside them.

Two sources: the values of the scenario's secret-looking settings (``*_SECRET*``, ``*TOKEN*``,
``*PASSWORD*``, ``*_KEY*``, ``*AUTH*``, ``*_SID``...), whatever the text around them; and
patterns for what a system under test prints on its own — provider keys and signing secrets,
bearer tokens, passwords in URLs, e-mail addresses, phone numbers and card numbers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.scenario.model import Scenario

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|HMAC|AUTH|_SID$|_KEY$",
    re.IGNORECASE,
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Stripe-style keys and webhook signing secrets; Twilio-style account ids.
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), REDACTED),
    (re.compile(r"\bAC[0-9a-f]{32}\b"), REDACTED),
    # Authorization headers and bearer tokens, wherever they are printed.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {REDACTED}"),
    # A password in a URL: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@"), rf"\1:{REDACTED}@"),
    # Personal data: e-mail addresses, phone numbers (E.164), card numbers.
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[email]"),
    (re.compile(r"(?<![\w+])\+[1-9]\d{7,14}\b"), "[phone]"),
    # (card numbers: see _cards, a Luhn check keeps ids and timestamps)
]
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){14,15}\d(?![\d.])")
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words


class Redactor:
    """Replaces known secret values and secret-looking patterns in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH and "${" not in s}
        # Longest first, so a secret that contains another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)
        self._literal = (
            re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None
        )

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> Redactor:
        """Secrets from every environment the scenario sets: services, actions, probes, loads,
        the runbook drill's shell."""
        return cls(_secret_values(_environments(scenario.model_dump(mode="python"))))

    def text(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
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
