"""Hostile scenario and runbook files: each is refused with a message naming what is wrong,
exit 2, fast — never a hang, a traceback or exit 1 (CI would read "the system failed")."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import EXIT_ERRORED, app

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
HOSTILE = {
    "billion laughs": (LAUGHS, "expands to over 100000 values"),
    "recursive alias": ("a: &a [1, *a]\n", "recursive"),
    "deep nesting": ("a: " + "[" * 200 + "]" * 200 + "\n", "nested"),
    "unknown tag": ("id: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    "list key": ("? [1, 2]\n: x\n", "a key is a name, not a list or mapping"),
    "only a document marker": ("---\n", "the file is empty"),
    "not a mapping": ("- a\n- b\n", "a scenario file is a mapping"),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_scenario_file_is_refused_with_a_reason(
    tmp_path: Path, text: tuple[str, str]
) -> None:
    content, says = text
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == EXIT_ERRORED, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert says in " ".join(result.output.split())
    assert time.monotonic() - started < 10


def test_bytes_that_are_not_text_a_fifo_and_a_huge_file_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"id: \xff\xfe bad\n")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (2 << 20) + "\n")
    for path, says in (
        (binary, "not UTF-8 text (byte 0xff at offset 4)"),
        (fifo, "not a regular file"),
        (huge, "over the 1048576 this harness reads"),
    ):
        result = CliRunner().invoke(app, ["validate", str(path)])
        assert result.exit_code == EXIT_ERRORED
        assert says in " ".join(result.output.split())


def test_a_hostile_runbook_is_a_lint_problem_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    for name, front in (("laughs", LAUGHS), ("recursive", "a: &a [1, *a]\n")):
        (tmp_path / f"{name}.md").write_text(f"---\n{front}---\n# t\n")
    (tmp_path / "binary.md").write_bytes(b"---\nid: \xff\n---\n")
    result = CliRunner().invoke(
        app, ["runbooks", "lint", str(tmp_path), "--scenarios", str(tmp_path / "scenarios")]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code != 0
    assert "not UTF-8 text" in " ".join(result.output.split())
