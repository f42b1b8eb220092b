"""``shop alerts ...``: the escalation policy's alerts, acknowledged, resolved and silenced by
operators (each audited), and one evaluation round on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from resilience.shop.cli_support import (
    ActorOption,
    emit_json,
    fail,
    load_settings,
    operator,
    out,
    parse_since,
    shop_context,
)

if TYPE_CHECKING:
    from resilience.alerts.engine import Escalation

__all__ = ["alerts_app"]

alerts_app = typer.Typer(
    help="Alerts (P0-P3): list, acknowledge, resolve, silence, evaluate.", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
OptionalAlertId = Annotated[
    int | None, typer.Argument(help="the alert's id (shop alerts list)", show_default=False)
]
RuleOption = Annotated[
    str | None, typer.Option(help="every alert of this rule, e.g. payment_processing_down")
]


@alerts_app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option(help="firing, acknowledged or resolved; default: all")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: AsJson = False,
) -> None:
    """Alerts, oldest first, with their state, escalation level and what muted them."""
    if state not in (None, "firing", "acknowledged", "resolved"):
        fail(f"--state {state!r}: use firing, acknowledged or resolved")
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.alerts is None:
            fail("alerts are switched off (SHOP_ALERTS_ENABLED=false)")
        alerts = ctx.alerts.alerts(state=state, limit=limit)
        sent: dict[int, list[str]] = {a.id: [] for a in alerts}
        for n in ctx.alerts.notifications(*sent) if sent else []:  # one query for all listed
            sent[n.alert_id].append(f"{n.channel}:{n.status}")
    if as_json:
        emit_json([{**a.to_dict(), "notifications": sent[a.id]} for a in alerts])
        return
    table = Table("id", "sev", "state", "rule", "labels", "fired", "level", "notified", "note")
    for a in alerts:
        note = a.note or (
            f"muted by #{a.muted_by}"
            if a.muted_by
            else f"silenced by #{a.silenced_by}"
            if a.silenced_by
            else ""
        )
        table.add_row(
            str(a.id),
            a.severity,
            a.state,
            a.rule,
            " ".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
            a.fired_at.isoformat(timespec="seconds"),
            str(a.level),
            ", ".join(sent[a.id]) or "-",
            note,
        )
    out.print(table)


@alerts_app.command("ack")
def ack(
    alert_id: OptionalAlertId = None,
    rule: RuleOption = None,
    actor: ActorOption = None,
    as_json: AsJson = False,
) -> None:
    """Acknowledge: stops the escalation (audited: alert_acknowledged). Give the alert's id,
    or --rule to acknowledge every firing alert of a rule (exit 1 if none fires)."""
    _change(alert_id, rule, actor, as_json, resolve=False)


@alerts_app.command("resolve")
def resolve(
    alert_id: OptionalAlertId = None,
    rule: RuleOption = None,
    actor: ActorOption = None,
    as_json: AsJson = False,
) -> None:
    """Resolve by hand; resolved notifications go out (audited: alert_resolved). If the
    condition still holds the next round fires a new alert: silence it instead. Give the
    alert's id, or --rule for every open alert of a rule (exit 1 if none is open)."""
    _change(alert_id, rule, actor, as_json, resolve=True)


def _change(
    alert_id: int | None, rule: str | None, actor: str | None, as_json: bool, *, resolve: bool
) -> None:
    if (alert_id is None) == (rule is None):
        fail("give an alert id or --rule RULE (one of them)")
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.alerts is None:
            fail("alerts are switched off (SHOP_ALERTS_ENABLED=false)")
        ids = [alert_id] if alert_id is not None else _open_ids(ctx.alerts, rule, resolve)
        if not ids:
            out.print(f"no {'open' if resolve else 'firing'} alert of rule {rule!r}")
            raise typer.Exit(1)
        change = ctx.alerts.resolve if resolve else ctx.alerts.acknowledge
        who = operator(actor)
        views = [change(i, who) for i in ids]
    if as_json:
        emit_json([v.to_dict() for v in views] if rule is not None else views[0].to_dict())
        return
    for view in views:
        if resolve:
            out.print(f"alert {view.id} resolved by {view.resolved_by}")
        else:
            out.print(f"alert {view.id} acknowledged by {view.acknowledged_by}")


def _open_ids(alerts: Escalation, rule: str | None, resolve: bool) -> list[int]:
    states = ("firing", "acknowledged") if resolve else ("firing",)
    return [
        a.id for state in states for a in alerts.alerts(state=state, limit=10_000) if a.rule == rule
    ]


@alerts_app.command("silence")
def silence(
    duration: Annotated[str, typer.Option("--for", help="how long, e.g. 30m, 2h")],
    reason: Annotated[str, typer.Option(help="why, e.g. the maintenance ticket")],
    rule: Annotated[str | None, typer.Option(help="only this rule, e.g. queue_depth")] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE the alert must carry (repeatable)")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Mute notifications of matching alerts for a maintenance window (audited)."""
    labels = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--label {item!r}: use KEY=VALUE, e.g. provider=stripe")
        labels[key] = value
    if rule is None and not labels:
        fail("give --rule or --label: a silence of everything is refused")
    span = parse_since(duration)
    assert span is not None
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.alerts is None:
            fail("alerts are switched off (SHOP_ALERTS_ENABLED=false)")
        silence_id = ctx.alerts.silence(
            rule=rule, labels=labels, duration=span, actor=operator(actor), reason=reason
        )
    out.print(f"silence {silence_id} until {duration} from now")


@alerts_app.command("evaluate")
def evaluate(as_json: AsJson = False) -> None:
    """Run one evaluation round now (workers run them every SHOP_ALERT_EVAL_INTERVAL_S)."""
    from resilience.shop.alerting import shop_signals

    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.alerts is None:
            fail("alerts are switched off (SHOP_ALERTS_ENABLED=false)")
        signals, evaluated = shop_signals(ctx.signal_sources())
        result = ctx.alerts.evaluate(signals, evaluated)
    report = {
        "signals": [f"{s.severity} {s.key}" for s in signals],
        "fired": result.fired,
        "resolved": result.resolved,
        "escalated": result.escalated,
        "notifications": [list(n) for n in result.notifications],
    }
    if as_json:
        emit_json(report)
    else:
        out.print(report)
