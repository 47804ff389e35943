"""Running bot processes sharing the database (storage/leases.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class InstanceLease(Base):
    """One running bot process: held while it runs (renewed every `storage.leases.RENEW_S`), deleted on a clean
    stop. A lease that is not renewed within its time, or whose process is gone from this machine, is dead."""

    __tablename__ = "instance_leases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    """The host name, for people reading the table."""
    machine: Mapped[str] = mapped_column(String(200))
    """Boot id and PID namespace: processes with the same value can check each other's pid directly."""
    pid: Mapped[int] = mapped_column(Integer)
    process_start: Mapped[str | None] = mapped_column(String(32))
    """The process's start time as the kernel counts it, so a reused pid is not taken for the process."""
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)
