"""The flags every command shares, named and behaving as kubectl's own.

They are accepted before and after the command name (`kubectl kapacitor -n x show ...` and
`kubectl kapacitor show ... -n x`), which argparse only allows when every subparser carries
them with suppressed defaults; the defaults are applied here, once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

SERVICE_PROXY_MODES = ("auto", "always", "never")
OUTPUT_FORMATS = ("json", "yaml", "wide")


@dataclass(frozen=True)
class GlobalOptions:
    """What the shared flags said, defaults filled in."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    output: str | None = None
    request_timeout: float = 30.0
    kapacitor_url: str | None = None
    operator_namespace: str | None = None
    service_proxy: str = "auto"


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """Add the shared flags with suppressed defaults (see the module docstring)."""
    s = argparse.SUPPRESS
    group = parser.add_argument_group("kubectl options")
    group.add_argument("-n", "--namespace", default=s, help="namespace (default: the context's)")
    group.add_argument("--kubeconfig", default=s, help="path to the kubeconfig file")
    group.add_argument("--context", default=s, help="kubeconfig context to use")
    group.add_argument("--as", dest="as_user", default=s, help="user to impersonate")
    group.add_argument(
        "--as-group", dest="as_groups", action="append", default=s, help="group to impersonate"
    )
    group.add_argument(
        "-o", "--output", choices=OUTPUT_FORMATS, default=s, help="output format: json|yaml|wide"
    )
    group.add_argument(
        "--request-timeout",
        default=s,
        help="seconds (or a duration such as 1m) to wait for each API call (default 30s)",
    )
    k = parser.add_argument_group("Kapacitor options")
    k.add_argument(
        "--kapacitor-url",
        default=s,
        help="reach Kapacitor at this URL instead of the one the resource names (for example "
        "through `kubectl port-forward`); the resource's credentials still apply",
    )
    k.add_argument(
        "--operator-namespace",
        default=s,
        help="where the operator runs, for resources without spec.kapacitor (default: found "
        "by label, else kapacitor-operator)",
    )
    k.add_argument(
        "--service-proxy",
        choices=SERVICE_PROXY_MODES,
        default=s,
        help="reach an in-cluster Kapacitor Service through the API server's service proxy: "
        "auto (when its name does not resolve here, the default), always or never",
    )


def global_options(args: argparse.Namespace) -> GlobalOptions:
    """The shared flags from parsed arguments.

    Raises:
        ValueError: --request-timeout is not a number of seconds or a duration.
    """
    from kapacitor_operator.models.common import parse_duration

    timeout = 30.0
    raw = getattr(args, "request_timeout", None)
    if raw is not None:
        text = str(raw)
        timeout = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
        if timeout <= 0:
            raise ValueError("--request-timeout must be positive")
    return GlobalOptions(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
        as_user=getattr(args, "as_user", None),
        as_groups=tuple(getattr(args, "as_groups", None) or ()),
        output=getattr(args, "output", None),
        request_timeout=timeout,
        kapacitor_url=getattr(args, "kapacitor_url", None),
        operator_namespace=getattr(args, "operator_namespace", None),
        service_proxy=getattr(args, "service_proxy", "auto"),
    )
