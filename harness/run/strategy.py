"""What differs between an automated run and a game day, as one object the runner is given.

The runner asks its :class:`RunStrategy` at the few points where a run with people in the loop
differs — before the method (wait for the go), whether the harness runs the runbook's phases,
when the method is over — and never tests which strategy it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.run.state import RunState

__all__ = ["AUTOMATED", "Automated", "RunStrategy"]


class RunStrategy(Protocol):
    """How a scenario's method is driven."""

    #: the harness runs the method's ``runbook:`` phases (people do, in a game day)
    runs_runbook_phases: bool

    def before_method(self, state: RunState) -> None:
        """After the steady state held, before anything is injected (a game day waits for the
        facilitator here; raising aborts the run, which rolls back)."""
        ...

    def method_started(self, state: RunState) -> None:
        """The method's timeline has started."""
        ...

    def method_over(self, busy: bool) -> bool:
        """Whether the method is over; ``busy``: steps, timed faults, assertions or runbook
        phases are still pending."""
        ...

    def method_ending(self) -> None:
        """The method is over; its runbook drill is decided next."""
        ...

    def method_ended(self) -> None:
        """The drill is decided (a game day prints its summary; an abort raises here)."""
        ...

    def close(self) -> None:
        """On every way out of the method (idempotent)."""
        ...


class Automated:
    """The harness runs everything on the scenario's own schedule."""

    runs_runbook_phases = True

    def before_method(self, state: RunState) -> None:
        pass

    def method_started(self, state: RunState) -> None:
        pass

    def method_over(self, busy: bool) -> bool:
        return not busy

    def method_ending(self) -> None:
        pass

    def method_ended(self) -> None:
        pass

    def close(self) -> None:
        pass


AUTOMATED = Automated()
