"""Run one scenario. The flow, a module each:

- ``lifecycle.py`` — :class:`ScenarioRunner`: provision → set up → steady state → method →
  steady state → verify → roll back → tear down, whatever happens;
- ``state.py`` — :class:`RunState`, everything one run holds, given to every step;
- ``steady.py`` — set-up actions and the steady-state checks;
- ``timeline.py`` — the method: faults, actions, loads, runbook phases at their ``at_s``;
- ``sampling.py`` — assertions and metrics sampled while the method runs;
- ``drill.py`` — the runbook drill's wiring;
- ``verdict.py`` — invariants, then the verdict (failed: the system; errored: the harness);
- ``rollback.py`` — faults reverted, rollback actions;
- ``strategy.py`` — what differs in a game day, as an object the runner is given.
"""

from harness.run.lifecycle import ScenarioInterrupted, ScenarioRunner
from harness.run.state import Kinds, RunState
from harness.run.strategy import AUTOMATED, Automated, RunStrategy

__all__ = [
    "AUTOMATED",
    "Automated",
    "Kinds",
    "RunState",
    "RunStrategy",
    "ScenarioInterrupted",
    "ScenarioRunner",
]
