"""Run one phase of the benchmark several times and report the median of each figure.

A bulk of 1,000 tasks takes seconds, and on two cores shared with the API server, etcd
and the harness one run says little: the floor's own time moved from 6.4 to 9.3 s
between runs a minute apart. Each run here is a whole `bench/run.py` (its own control
plane, emulator and processes), one after the other. The report keeps every run's
figures and the median of each numeric one.

    python bench/repeat.py --runs 9 --json bulk9.json -- --n 1000 --phases bulk

Everything after `--` goes to bench/run.py unchanged (`--json` and `--work-dir` are set
per run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RUN = Path(__file__).resolve().parent / "run.py"


def medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Per top-level numeric figure present in every report, its median."""
    if not reports:
        return {}
    keys = [
        k
        for k, v in reports[0].items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "schema"
    ]
    result: dict[str, float] = {}
    for key in keys:
        values = [r.get(key) for r in reports]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(reports):
            result[key] = round(statistics.median(numbers), 4)
    return result


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--work-dir", type=Path, default=None, help="runs' logs (default: temp)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if {"--json", "--work-dir"} & set(rest):
        p.error("--json and --work-dir are set per run")
    return args, rest


def main(argv: list[str] | None = None) -> int:
    args, rest = parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kapacitor-operator-repeat-"))
    reports: list[dict[str, Any]] = []
    for i in range(1, args.runs + 1):
        out = work / f"run-{i}.json"
        logs = work / f"run-{i}"
        cmd = [sys.executable, str(RUN), *rest, "--json", str(out), "--work-dir", str(logs)]
        print(f"[repeat] run {i}/{args.runs}: {' '.join(cmd[1:])}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            print(f"[repeat] run {i} failed; its logs are in {logs}", file=sys.stderr)
            return 1
        reports.append(json.loads(out.read_text()))
    summary = {"runs": args.runs, "args": rest, "medians": medians(reports), "reports": reports}
    width = max((len(k) for k in summary["medians"]), default=10)
    print(f"median of {args.runs} runs ({' '.join(rest)}):")
    for key, value in summary["medians"].items():
        spread = sorted(r[key] for r in reports)
        print(f"  {key:<{width}}  {value:<10g} (runs: {', '.join(f'{v:g}' for v in spread)})")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"[repeat] wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
