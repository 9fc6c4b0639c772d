"""The service's notion of "now" and "today" (Asia/Shanghai calendar day).

`CLOCK_NOW` in the app config (an aware datetime) pins the clock: tests
step to a term end with it, and an operator can replay a missed day.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from experts_service.core.db import utcnow


def display_zone() -> ZoneInfo:
    name = current_app.config["DISPLAY_TIMEZONE"] if has_app_context() else "Asia/Shanghai"
    return ZoneInfo(name)


def now() -> datetime:
    pinned = current_app.config.get("CLOCK_NOW") if has_app_context() else None
    # Always UTC, as the database hands times back: what is hashed (signed opinions) must read back equal.
    return pinned.astimezone(timezone.utc) if pinned else utcnow()


def today() -> date:
    """The calendar day in the display zone: rules speak of local days."""
    return now().astimezone(display_zone()).date()
