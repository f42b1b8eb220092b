"""Webhook resilience: signed intake, two-layer dedup, an inbox, retries, dead letters and replay.

A delivery flows: verify the signature on the raw body (:mod:`.stripe`, :mod:`.paypal`) → reject
a recently seen delivery (:mod:`.dedup`, layer 1) → store the event in the inbox, unique per
provider and event id (:mod:`.inbox`, layer 2) → acknowledge → a job applies it
(:mod:`.processor`), retried with backoff, dead-lettered when attempts run out, replayable.
"""

from resilience.webhooks.delivery import VerifiedDelivery, Verifier

__all__ = ["VerifiedDelivery", "Verifier"]
