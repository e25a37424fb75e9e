"""RFC3339 helpers: Kubernetes and Kapacitor both speak UTC timestamps as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> str:
    """Now, RFC3339 UTC with whole seconds (as Kubernetes writes times)."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime, *, millis: bool = False) -> str:
    spec = "milliseconds" if millis else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse RFC3339 (Z or offset, any fraction digits).

    Raises:
        ValueError: not RFC3339.
    """
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, rest = value.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def plus_seconds(text: str, seconds: float) -> str:
    """A timestamp `seconds` after `text`, with millisecond precision."""
    return format_time(parse_time(text) + timedelta(seconds=seconds), millis=True)


def seconds_until(text: str, now: datetime | None = None) -> float:
    """Seconds from now until `text` (negative when past)."""
    return (parse_time(text) - (now or datetime.now(UTC))).total_seconds()
