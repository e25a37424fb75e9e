"""`--since`: a duration back from now (`90m`, `2h`, `1d`) or an RFC3339 time."""

from __future__ import annotations

from datetime import datetime, timedelta

from kapacitor_operator.models.common import parse_duration
from kapacitor_operator.plugin.errors import UsageError
from kapacitor_operator.timeutil import parse_time


def parse_since(text: str, now: datetime) -> datetime:
    """The moment `text` names, relative to `now` for durations.

    Raises:
        UsageError: neither a duration nor an RFC3339 time.
    """
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    if "T" in text:
        try:
            return parse_time(text)
        except ValueError:
            pass
    raise UsageError(
        f"invalid --since {text!r}: use a duration such as 90m, 2h or 1d, or an RFC3339 "
        "time such as 2024-05-01T10:00:00Z"
    )
