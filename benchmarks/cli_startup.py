"""Benchmark: how fast the CLIs start, side by side with a bare interpreter in the same run.

A runbook drill runs `shop ...` dozens of times and `chaosgate runbooks lint` asks every command
for `--help`, so start-up is paid many times. Each command runs ``--rounds`` times, interleaved
with ``python -c pass`` so both see the same machine; the figures are medians, the ratio is
against the bare interpreter. Target: every ``--help`` within 0.3 s on the project's 2-core
machine.

    python -m benchmarks.cli_startup [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "shop --help": ["shop", "--help"],
    "shop db --help": ["shop", "db", "--help"],
    "shop webhooks stats --help": ["shop", "webhooks", "stats", "--help"],
    "chaosgate --help": ["chaosgate", "--help"],
    "chaosgate run --help": ["chaosgate", "run", "--help"],
}
TARGET_S = 0.3


def seconds(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    for name, argv in COMMANDS.items():
        if shutil.which(argv[0]) is None:
            raise SystemExit(f"{argv[0]} is not on PATH (pip install -e . first): {name}")
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():
        seconds(argv)  # warm the page cache and byte-code once
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            samples[name].append(seconds(argv))
    bare = statistics.median(samples["python -c pass"])
    commands = {
        name: {
            "median_s": round(statistics.median(values), 3),
            "over_bare_s": round(statistics.median(values) - bare, 3),
            "ratio_to_bare": round(statistics.median(values) / bare, 1),
            "within_target": statistics.median(values) <= TARGET_S,
        }
        for name, values in samples.items()
    }
    result = {"rounds": args.rounds, "target_s": TARGET_S, "commands": commands}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli_startup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
