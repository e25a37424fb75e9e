"""`kapacitor-operator` command line: `run` (the operator) and `version`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from kapacitor_operator import __version__
from kapacitor_operator.config import add_arguments, apply_arguments, settings_from_env


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kapacitor-operator run", description="Run the operator against the current cluster."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = apply_arguments(settings_from_env(), args)
    except ValueError as exc:
        parser.error(str(exc))

    import kopf  # imported late: `version` and `--help` stay instant

    from kapacitor_operator.leadership import run_process
    from kapacitor_operator.main import build_registry, kopf_work

    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    kopf.configure(
        verbose=level <= logging.DEBUG,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger().setLevel(level)
    # httpx logs every request at INFO: too chatty for an operator (and URLs are ours).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registry = build_registry(settings)
    work = kopf_work(settings, registry)
    return asyncio.run(run_process(settings, work, standalone=settings.standalone))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kapacitor-operator` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: kapacitor-operator {run,version} [options]"
    if not args or args[0] in {"-h", "--help"}:
        print(usage)
        print("  run        run the operator (see `run --help` for every setting)")
        print("  version    print the version")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        return _run(rest)
    if command == "version":
        print(__version__)
        return 0
    print(f"unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2
