"""Working days: the national calendar (chinese-calendar: public holidays and
调休 make-up working days) corrected by the admin's local overrides."""
from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import sqlalchemy as sa

from experts_service.extensions import db
from experts_service.lifecycle.models import CalendarOverride


def _national_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # A year the library does not know yet (published each November):
        # Monday to Friday until it is updated; local overrides still apply.
        return day.weekday() < 5


def _overrides(start: date, end: date) -> dict[date, bool]:
    rows = db.session.execute(
        sa.select(CalendarOverride.day, CalendarOverride.is_workday)
        .where(CalendarOverride.day >= start, CalendarOverride.day <= end)
    )
    return dict(rows.all())


def is_workday(day: date) -> bool:
    return _overrides(day, day).get(day, _national_workday(day))


def add_working_days(start: date, count: int) -> tuple[date, date]:
    """The first and the `count`-th working day on or after `start`."""
    # Generous window: the longest national holiday run is about 9 days.
    overrides = _overrides(start, start + timedelta(days=count * 3 + 30))
    day, found, first = start, 0, None
    while True:
        if overrides.get(day, _national_workday(day)):
            found += 1
            first = first or day
            if found == count:
                return first, day
        day += timedelta(days=1)
