"""A tamper-evident audit trail: one row per critical action, written in the action's own
database transaction, each row chained to the previous one by a hash (HMAC when a key is set).

:class:`~resilience.audit.trail.AuditTrail` writes and verifies; on PostgreSQL the table is
partitioned by month (:mod:`.partitions`) and refuses UPDATE, DELETE and TRUNCATE itself.
"""

from resilience.audit.models import AuditLog
from resilience.audit.trail import Actor, AuditEntry, AuditTrail, Verification

__all__ = ["Actor", "AuditEntry", "AuditLog", "AuditTrail", "Verification"]
