"""Retry schedule math: which end reasons retry, how many times, and after what delay."""

from __future__ import annotations

import random
from collections.abc import Callable

from kapacitor_operator.models.common import Backoff, RetryPolicy, parse_duration

DEFAULT_RETRY_ON: tuple[str, ...] = ("failed", "crashed", "timeout")
DEFAULT_BACKOFF = Backoff()

Uniform = Callable[[float, float], float]


def retry_on(policy: RetryPolicy | None) -> tuple[str, ...]:
    """End reasons the policy retries."""
    if policy is None or policy.retryOn is None:
        return DEFAULT_RETRY_ON
    return tuple(policy.retryOn)


def should_retry(policy: RetryPolicy | None, end_reason: str, attempts_done: int) -> bool:
    """True when another attempt follows attempt `attempts_done` that ended with end_reason."""
    if policy is None or end_reason not in retry_on(policy):
        return False
    return attempts_done <= policy.limit


def base_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Delay in seconds before retry `retry_number` (1 = the first retry), before jitter.

    `delays` are used in order and the last one repeats; otherwise exponential backoff
    `min(base * factor^(n-1), max)`.
    """
    if policy.delays:
        index = min(retry_number, len(policy.delays)) - 1
        return parse_duration(policy.delays[index])
    backoff = policy.backoff or DEFAULT_BACKOFF
    base = parse_duration(backoff.base)
    cap = parse_duration(backoff.max)
    # Compute in log space is unnecessary: cap early to avoid huge floats.
    delay = base
    for _ in range(retry_number - 1):
        delay *= backoff.factor
        if delay >= cap:
            return cap
    return min(delay, cap)


def retry_delay(policy: RetryPolicy, retry_number: int, uniform: Uniform = random.uniform) -> float:
    """Delay with jitter: uniformly within [d, d * (1 + jitter)]."""
    delay = base_delay(policy, retry_number)
    if policy.jitter <= 0 or delay <= 0:
        return delay
    return uniform(delay, delay * (1.0 + policy.jitter))
