"""The ``slow_jobs`` table: every job that ran longer than the slow-job threshold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from resilience.persistence import Base, Id, UtcDateTime

__all__ = ["SlowJobRow"]


class SlowJobRow(Base):
    __tablename__ = "slow_jobs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    job: Mapped[str] = mapped_column(String(255), index=True)
    queue: Mapped[str] = mapped_column(String(255))
    duration_ms: Mapped[int] = mapped_column(Integer)
    failed: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
