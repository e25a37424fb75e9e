"""`kapacitor-operator` command line: `run` (the operator) and `version`."""

from __future__ import annotations

import argparse
import logging
import random
import sys

from kapacitor_operator import __version__
from kapacitor_operator.config import add_arguments, apply_arguments, settings_from_env


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kapacitor-operator run", description="Run the operator against the current cluster."
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="run without peering even when a peering name is set",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = apply_arguments(settings_from_env(), args)
    except ValueError as exc:
        parser.error(str(exc))

    import kopf  # imported late: `version` and `--help` stay instant

    from kapacitor_operator.main import build_registry

    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    kopf.configure(
        verbose=level <= logging.DEBUG,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger().setLevel(level)
    # httpx logs every request at INFO: too chatty for an operator (and URLs are ours).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registry = build_registry(settings)
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    # Equal priorities make kopf pause every replica: draw one unless configured.
    priority = settings.peering_priority or random.randint(1, 2**31 - 1)
    kopf.run(
        registry=registry,
        priority=priority,
        standalone=args.standalone or not settings.peering,
        peering_name=settings.peering or None,
        clusterwide=settings.cluster_wide,
        namespaces=list(settings.namespaces),
        liveness_endpoint=liveness,
    )
    return 0


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
