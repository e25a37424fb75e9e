"""Schedule math: delays list, exponential backoff with cap, jitter bounds, retryOn, limit."""

from __future__ import annotations

import random

import pytest

from kapacitor_operator.models.common import RetryPolicy
from kapacitor_operator.reconcile.retry_policy import base_delay, retry_delay, should_retry


def policy(**kw: object) -> RetryPolicy:
    return RetryPolicy.model_validate(kw)


def test_delays_are_used_in_order_and_the_last_repeats() -> None:
    p = policy(limit=5, delays=["1s", "5s", "1m"])
    assert [base_delay(p, n) for n in range(1, 6)] == [1, 5, 60, 60, 60]


def test_backoff_grows_by_factor_and_is_capped() -> None:
    p = policy(limit=10, backoff={"base": "2s", "factor": 3, "max": "1m"})
    assert [base_delay(p, n) for n in range(1, 6)] == [2, 6, 18, 54, 60]
    assert base_delay(p, 1000) == 60  # no overflow for huge retry numbers


def test_default_backoff_when_neither_is_given() -> None:
    p = policy(limit=3)
    assert [base_delay(p, n) for n in (1, 2, 3)] == [10, 20, 40]


def test_jitter_stays_within_bounds() -> None:
    p = policy(limit=3, delays=["10s"], jitter=0.5)
    rng = random.Random(7)
    samples = [retry_delay(p, 1, rng.uniform) for _ in range(2000)]
    assert min(samples) >= 10
    assert max(samples) <= 15
    assert max(samples) - min(samples) > 4, "jitter should actually spread delays"


def test_no_jitter_is_exact() -> None:
    assert retry_delay(policy(limit=1, delays=["3s"]), 1) == 3


@pytest.mark.parametrize(
    ("reason", "attempts_done", "expected"),
    [
        ("failed", 1, True),
        ("failed", 2, True),
        ("failed", 3, False),
        ("crashed", 1, True),
        ("timeout", 1, True),
        ("stopped", 1, False),
        ("success", 1, False),
    ],
)
def test_should_retry_honours_limit_and_default_retry_on(
    reason: str, attempts_done: int, expected: bool
) -> None:
    assert should_retry(policy(limit=2), reason, attempts_done) is expected


def test_retry_on_narrows_reasons_and_no_policy_never_retries() -> None:
    p = policy(limit=5, retryOn=["timeout"])
    assert should_retry(p, "timeout", 1)
    assert not should_retry(p, "failed", 1)
    assert not should_retry(None, "failed", 1)


def test_delays_and_backoff_are_exclusive_in_the_crd_rule() -> None:
    rules = RetryPolicy.model_json_schema()["x-kubernetes-validations"]
    assert any("delays" in r["rule"] and "backoff" in r["rule"] for r in rules)
