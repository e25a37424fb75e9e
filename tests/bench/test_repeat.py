"""bench/repeat.py's summary: the median of every figure all runs report."""

from __future__ import annotations

from typing import Any

import pytest
from bench.repeat import medians, parse_args


def test_the_median_of_each_figure_every_run_reports() -> None:
    runs: list[dict[str, Any]] = [
        {"schema": 1, "n": 1000, "bulk_ratio": 1.46, "bulk_seconds": 11.0, "mode": "full"},
        {"schema": 1, "n": 1000, "bulk_ratio": 1.04, "bulk_seconds": 8.2, "only": 3},
        {"schema": 1, "n": 1000, "bulk_ratio": 1.21, "bulk_seconds": 9.5, "flag": True},
    ]
    assert medians(runs) == {"n": 1000, "bulk_ratio": 1.21, "bulk_seconds": 9.5}
    assert medians([]) == {}


def test_a_figure_missing_from_a_run_has_no_median() -> None:
    runs: list[dict[str, Any]] = [{"bulk_ratio": 1.2, "idle_cpu_percent": 0.7}, {"bulk_ratio": 1.4}]
    assert medians(runs) == {"bulk_ratio": 1.3}


def test_arguments_after_the_separator_go_to_run_py() -> None:
    args, rest = parse_args(["--runs", "3", "--", "--n", "1000", "--phases", "bulk"])
    assert args.runs == 3
    assert rest == ["--n", "1000", "--phases", "bulk"]
    with pytest.raises(SystemExit):
        parse_args(["--", "--json", "x.json"])
