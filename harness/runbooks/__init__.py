"""Runbooks that the harness reads, lints and (with their scenarios) verifies."""

from harness.runbooks.lint import LintResult, lint_runbooks
from harness.runbooks.model import FrontMatter, Runbook, Section, Step
from harness.runbooks.parser import parse_runbook, runbook_files

__all__ = [
    "FrontMatter",
    "LintResult",
    "Runbook",
    "Section",
    "Step",
    "lint_runbooks",
    "parse_runbook",
    "runbook_files",
]
