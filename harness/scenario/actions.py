"""Actions: what a scenario does to the system besides faults (set-up, the method, rollbacks)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.scenario.base import Model, Name, PositiveSeconds, Seconds, check_regex
from harness.scenario.keys import decode_key

__all__ = [
    "Action",
    "CommandAction",
    "HttpAction",
    "OpKey",
    "SqlAction",
    "WebhookEventSpec",
    "WebhooksAction",
]


class OpKey(Model):
    """Where an operation's key is — what the system acknowledged (an order id, a record id):
    exactly one of ``json_path`` (a dotted path in the answer's JSON), ``request_path`` (in the
    request's JSON body), ``header`` (an answer header) or ``regex`` (group 1, or the whole
    match, on the answer's text or a command's output)."""

    json_path: str | None = Field(default=None, min_length=1)
    request_path: str | None = Field(default=None, min_length=1)
    header: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> OpKey:
        kinds = ("json_path", "request_path", "header", "regex")
        given = [k for k in kinds if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(kinds)} (got {given or 'none'})")
        check_regex(self.regex)
        return self


class _Action(Model):
    name: str | None = Field(
        default=None,
        min_length=1,
        description="how the journal and report name a set-up or rollback action "
        "(default: setup N, rollback N); a method step is named by the step",
    )


class CommandAction(_Action):
    """Run a command; it must exit with ``exit_code``."""

    type: Literal["command"]
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    exit_code: int = 0
    timeout_s: PositiveSeconds = 60.0
    key: OpKey | None = Field(
        default=None, description="the key its output names (regex), kept in the history"
    )


class HttpAction(_Action):
    """Send a request to a service; ``capture`` saves JSON fields as ``${vars.NAME}``."""

    type: Literal["http"]
    service: Name
    path: str = "/"
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    json_body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    status: int | None = Field(default=None, description="expected status; default: any 2xx")
    capture: dict[Name, str] = Field(default_factory=dict, description="var -> dotted JSON path")
    timeout_s: PositiveSeconds = 10.0
    key: OpKey | None = Field(
        default=None,
        description="what it wrote, kept in the history of operations (acknowledged invariants)",
    )


class SqlAction(_Action):
    """Run SQL statements on a ``postgres`` service, in one transaction, as its superuser: a bad
    deploy's migration, a hand edit, tampering that the system must detect."""

    type: Literal["sql"]
    service: Name = Field(description="a service of kind postgres")
    statements: list[str] = Field(min_length=1, description="run in order; strings may use ${...}")
    timeout_s: PositiveSeconds = 10.0


class WebhookEventSpec(Model):
    type: str = Field(min_length=1, description="e.g. payment_intent.succeeded")
    object: dict[str, Any] = Field(description="data.object of the event; strings may use ${...}")
    id: str | None = Field(default=None, description="default: drawn from the run's seed")


class WebhooksAction(_Action):
    """Deliver signed webhook events the way providers do: at least once, as repeated requests
    or re-signed retries, in order or shuffled, with bad signatures mixed in.

    Stripe deliveries are signed with ``secret``. PayPal deliveries are signed with the key of
    the ``signer`` service (a ``fake-provider``, which serves the matching certificate) for the
    webhook ``webhook_id``. Standard Webhooks deliveries are signed ``v1`` with ``secret`` (a
    ``whsec_`` secret) and/or ``v1a`` with ``signing_key`` (a ``whsk_`` ed25519 key); the
    event's id is its ``webhook-id``.
    """

    type: Literal["webhooks"]
    service: Name
    provider: Literal["stripe", "paypal", "standard"] = "stripe"
    path: str | None = Field(default=None, description="default: /webhooks/<provider>")
    secret: str | None = Field(
        default=None,
        min_length=1,
        description="Stripe signing secret; Standard Webhooks: the whsec_ secret (v1)",
    )
    signing_key: str | None = Field(
        default=None, min_length=1, description="Standard Webhooks: a whsk_ ed25519 key (v1a)"
    )
    signer: Name | None = Field(default=None, description="PayPal: the fake-provider service")
    webhook_id: str | None = Field(default=None, description="PayPal: the webhook id")
    events: list[WebhookEventSpec] = Field(min_length=1)
    copies: int = Field(default=1, ge=1, le=100, description="deliveries of each event")
    resign: bool = Field(
        default=True,
        description="copies after the first are signed anew (a provider retry); else the very "
        "same request is repeated (a loop)",
    )
    shuffle: bool = Field(default=False, description="deliver in a seeded random order")
    bad_signatures: int = Field(default=0, ge=0, description="extra deliveries signed wrongly")
    burst: int = Field(default=1, ge=1, description="deliveries sent back to back, then a pause")
    pace_s: Seconds = Field(
        default=0.0, description="pause after each burst (scaled); 0 sends all at once"
    )
    status: int = Field(default=200, description="expected answer to each good delivery")
    timeout_s: PositiveSeconds = 10.0

    @model_validator(mode="after")
    def _signing(self) -> WebhooksAction:
        if self.provider == "stripe" and not self.secret:
            raise ValueError("Stripe deliveries need secret")
        if self.provider == "standard":
            if not (self.secret or self.signing_key):
                raise ValueError("Standard Webhooks deliveries need secret and/or signing_key")
            for field, prefix, value in (
                ("secret", "whsec_", self.secret),
                ("signing_key", "whsk_", self.signing_key),
            ):
                if value and "${" not in value:
                    try:
                        decode_key(value, prefix)
                    except ValueError:
                        raise ValueError(
                            f"{field} must be {prefix} followed by base64 (as the provider "
                            "shows it)"
                        ) from None
        if self.provider == "paypal" and not (self.signer and self.webhook_id):
            raise ValueError(
                "PayPal deliveries need signer (a fake-provider service) and webhook_id"
            )
        return self


Action = Annotated[
    CommandAction | HttpAction | SqlAction | WebhooksAction, Field(discriminator="type")
]
