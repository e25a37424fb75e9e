"""`kubectl-kapacitor`, the console script kubectl runs for `kubectl kapacitor ...`.

Exit codes follow kubectl: 0 on success, 1 on errors (one `error: ...` line on stderr), 2
on usage errors. `validate` also exits 1 when a script is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import NoReturn

from kapacitor_operator import __version__
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.plugin import logs, retry_failed, show, validate
from kapacitor_operator.plugin.errors import EXIT_ERROR, EXIT_USAGE, PluginError
from kapacitor_operator.plugin.options import add_global_flags, global_options
from kapacitor_operator.plugin.session import Session

PROG = "kubectl kapacitor"
EXAMPLES = """examples:
  kubectl kapacitor show kt/cpu-alert
  kubectl kapacitor logs taskrun/nightly-report --attempt 2
  kubectl kapacitor retry-failed kapacitortask/hourly --since 6h --dry-run
  kubectl kapacitor validate -f tasks/ -o json
"""


class Parser(argparse.ArgumentParser):
    """argparse with kubectl's usage-error format: `error: ...`, a hint, exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\nSee '{self.prog} --help' for usage.\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> Parser:
    common = Parser(add_help=False)
    add_global_flags(common)
    parser = Parser(
        prog=PROG,
        parents=[common],
        description="Kapacitor's view of kapacitor-operator resources, with your own rights.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for module in (show, logs, retry_failed, validate):
        module.add_parser(sub, [common])
    version = sub.add_parser("version", help="print the plugin's version")
    version.set_defaults(command=None, check=None)
    return parser


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"error: {first}", file=sys.stderr)
    return code


async def _dispatch(args: argparse.Namespace) -> int:
    session = Session.open(global_options(args))
    try:
        result: int = await args.command(session, args)
        return result
    finally:
        await session.aclose()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kubectl-kapacitor` console script."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 0
    if args.command is None:
        print(__version__)
        return 0
    try:
        global_options(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.check is not None:
            args.check(args)
        return asyncio.run(_dispatch(args))
    except PluginError as exc:
        return _fail(str(exc), exc.exit_code)
    except KubeError as exc:
        return _fail(_kube_message(exc))
    except KapacitorError as exc:
        return _fail(f"Kapacitor: {exc}")
    except KeyboardInterrupt:
        return 130


def _kube_message(exc: KubeError) -> str:
    """As kubectl: `Error from server (Reason): message` becomes our one error line."""
    reason = f" ({exc.reason})" if exc.reason else ""
    return f"from server{reason}: {exc.message}" if exc.status else str(exc)
