"""Hostile scenario and runbook files: each is refused with a message naming what is wrong,
exit 2, fast — never a hang, a traceback or exit 1 (CI would read "the system failed")."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


# -- whatever the bytes: a verdict of validation, never a traceback --------------------------------

YAMLISH = st.lists(
    st.sampled_from(
        [
            "id: ",
            "title: ",
            "services:",
            "method:",
            "  - ",
            "  ",
            "&a ",
            "*a ",
            "!!str ",
            "!x ",
            "? ",
            ": ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "'",
            '"',
            "#",
            "---\n",
            "...\n",
            "\n",
            "\t",
            "|",
            ">",
            "%YAML 1.1\n",
            "\x00",
            "\ufeff",
            "x",
            "1",
            "1e400",
            "~",
            "<<: *a\n",
        ]
    ),
    max_size=60,
).map("".join)
HOSTILE_BYTES = st.one_of(st.binary(max_size=400), YAMLISH.map(str.encode))
FILES = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@given(content=HOSTILE_BYTES)
@FILES
def test_any_bytes_as_a_scenario_file_are_judged_never_a_traceback(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(content)
        result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, EXIT_ERRORED), result.output


@given(front=HOSTILE_BYTES, body=HOSTILE_BYTES)
@FILES
def test_any_bytes_as_a_runbook_are_lint_problems_never_a_traceback(
    front: bytes, body: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "scenarios").mkdir()
        (root / "fuzz.md").write_bytes(b"---\n" + front + b"\n---\n" + body)
        result = CliRunner().invoke(
            app, ["runbooks", "lint", str(root), "--scenarios", str(root / "scenarios")]
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
