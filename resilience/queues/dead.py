"""Jobs that failed on every retry, read from and put back on Dramatiq's Redis dead-letter set.

Dramatiq keeps a failed job in ``<ns>:<q>.XQ`` (a sorted set by the time it died) with its
body in ``<ns>:<q>.XQ.msgs``, for the broker's ``dead_message_ttl``. ``requeue`` puts a job
back on its queue with a fresh retry budget and removes it from the dead set only once it is
enqueued, so a failure halfway loses nothing.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from resilience.queues.middleware import failure_reason_key

__all__ = ["DeadJob", "DeadLetters"]


@dataclass(frozen=True)
class DeadJob:
    message_id: str
    redis_id: str  # its member in the dead-letter set (Dramatiq's redis_message_id)
    queue: str
    job: str
    args: list[Any]
    died_at: float  # epoch seconds
    enqueued_at: float
    retries: int  # as last enqueued (Dramatiq's Redis broker keeps that body)
    error: str | None = None  # from FailureReasons; None when it was not recorded


class DeadLetters:
    def __init__(
        self, client: redis.Redis, *, namespace: str = "dramatiq", reasons_prefix: str = "queues"
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.reasons_prefix = reasons_prefix

    def find(
        self, queues: tuple[str, ...], *, since_s: float | None = None, job: str | None = None
    ) -> list[DeadJob]:
        floor = 0 if since_s is None else int((time.time() - since_s) * 1000)
        found: list[DeadJob] = []
        for queue in queues:
            key = f"{self.namespace}:{queue}.XQ"
            entries: list[Any] = list(
                self.client.zrangebyscore(key, floor, "+inf", withscores=True)
            )
            if not entries:
                continue
            ids = [entry[0] for entry in entries]
            bodies = self.client.hmget(f"{key}.msgs", ids)
            for (member, score), body in zip(entries, bodies, strict=True):
                if body is None:
                    continue
                message = _decode(body)
                if job is not None and message.actor_name != job:
                    continue
                found.append(
                    DeadJob(
                        message.message_id,
                        member.decode() if isinstance(member, bytes) else str(member),
                        queue,
                        message.actor_name,
                        list(message.args),
                        float(score) / 1000,
                        message.message_timestamp / 1000,
                        int(message.options.get("retries", 0)),
                    )
                )
        if found:
            keys = [failure_reason_key(self.reasons_prefix, d.message_id) for d in found]
            reasons = self.client.mget(keys)
            found = [
                dataclasses.replace(d, error=_text(r)) if r is not None else d
                for d, r in zip(found, reasons, strict=True)
            ]
        return sorted(found, key=lambda d: d.died_at)

    def requeue(self, broker: dramatiq.Broker, jobs: list[DeadJob]) -> int:
        """Put ``jobs`` back on their queues with a fresh retry budget; how many were."""
        done = 0
        for dead in jobs:
            key = f"{self.namespace}:{dead.queue}.XQ"
            body = self.client.hget(f"{key}.msgs", dead.redis_id)
            if body is None:
                continue  # requeued by someone else meanwhile
            message = _decode(body)
            drop = {"traceback", "redis_message_id"}  # the broker gives it a new one
            options = {k: v for k, v in message.options.items() if k not in drop}
            options["retries"] = 0
            broker.enqueue(dataclasses.replace(message, options=options, queue_name=dead.queue))
            pipe = self.client.pipeline()
            pipe.zrem(key, dead.redis_id)
            pipe.hdel(f"{key}.msgs", dead.redis_id)
            pipe.delete(failure_reason_key(self.reasons_prefix, dead.message_id))
            pipe.execute()
            done += 1
        return done


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _decode(body: bytes | str) -> dramatiq.Message[Any]:
    return dramatiq.Message.decode(body if isinstance(body, bytes) else body.encode())
