"""Resource arguments as kubectl takes them: `TYPE/NAME` or `TYPE NAME`, with plurals,
short names and the fully qualified `plural.group` accepted, or a bare NAME of the kind
the command works on."""

from __future__ import annotations

import argparse

from kapacitor_operator import GROUP
from kapacitor_operator.models.resources import KAPACITORTASK, TASKRUN, CRDKind
from kapacitor_operator.plugin.errors import UsageError

# `tr` is not a short name of the CRD (it is too generic for a cluster-wide name), but
# the plugin only ever means its own kinds, so it is safe here.
_EXTRA_ALIASES = {TASKRUN.plural: ("tr",)}


def aliases(kind: CRDKind) -> set[str]:
    """Every spelling of a kind, lower case."""
    words = {kind.kind, kind.singular, kind.plural, f"{kind.plural}.{GROUP}", *kind.short_names}
    words.update(_EXTRA_ALIASES.get(kind.plural, ()))
    return {w.lower() for w in words}


def resolve_kind(word: str) -> CRDKind:
    """The kind a TYPE word names.

    Raises:
        UsageError: not one of the plugin's kinds.
    """
    lowered = word.lower()
    for kind in (KAPACITORTASK, TASKRUN):
        if lowered in aliases(kind):
            return kind
    raise UsageError(
        f'the server doesn\'t have a resource type "{word}" that kubectl kapacitor handles '
        "(use kapacitortask/kt or taskrun/tr)"
    )


def parse_target(words: list[str], expected: CRDKind) -> str:
    """The NAME from `TYPE/NAME`, `TYPE NAME` or `NAME`, checking that TYPE is `expected`.

    Raises:
        UsageError: no name, too many words, an empty part, or another kind.
    """
    if not words:
        raise UsageError(f"a {expected.singular} name is required ({expected.singular}/NAME)")
    if len(words) > 2:
        raise UsageError(f"expected one {expected.singular}, got {' '.join(words)!r}")
    if len(words) == 2:
        kind_word, name = words
        if "/" in kind_word or "/" in name:
            raise UsageError("use either TYPE/NAME or TYPE NAME, not both")
    elif "/" in words[0]:
        kind_word, _, name = words[0].partition("/")
    else:
        return _checked_name(words[0], expected)
    kind = resolve_kind(kind_word)
    if kind is not expected:
        raise UsageError(f"this command works on {expected.plural}, not {kind.plural}")
    return _checked_name(name, expected)


def _checked_name(name: str, expected: CRDKind) -> str:
    if not name or "/" in name:
        raise UsageError(f"invalid {expected.singular} name {name!r}")
    return name


def qualified(kind: CRDKind) -> str:
    """`plural.group`, as kubectl names a custom resource in its messages."""
    return f"{kind.plural}.{GROUP}"


def add_target_arguments(parser: argparse.ArgumentParser, kind: CRDKind) -> None:
    """`TYPE/NAME`, `TYPE NAME` or `NAME` positionals (kubectl's forms)."""
    parser.add_argument(
        "target", metavar=f"{kind.singular}/NAME", help=f"the {kind.kind} (or TYPE NAME, or NAME)"
    )
    parser.add_argument("target_name", nargs="?", help=argparse.SUPPRESS)


def target_words(args: argparse.Namespace) -> list[str]:
    return [args.target] + ([args.target_name] if args.target_name else [])
