"""Flux task options: read them from a script, validate them, write them back on PATCH.

Mirrors InfluxDB's ``options.FromScriptAST`` / ``Options.Validate`` (as vendored by
Kapacitor) and ``TaskUpdate.UpdateFlux``: a PATCH that sets ``name``/``every``/``cron``/
``offset`` edits the ``option task`` record (``every`` and ``cron`` replace each other, a
zero ``offset`` removes it) and the whole script comes back reformatted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kapacitor_operator.emulator.flux_lang import (
    DURATION_RE,
    FluxOptionsError,
    FluxSyntaxError,
    check_syntax,
    duration_ns,
    find_task_option,
    flux_string,
    tokenize,
)

INDENT = "    "
_SECOND = 1_000_000_000
_CRON_DESCRIPTORS = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#\-]+$")


class FluxEditError(ValueError):
    """The script has no ``option task`` record to edit (an internal error in Kapacitor)."""


@dataclass(frozen=True)
class TaskOptions:
    """Options read from ``option task``; durations keep their literal text."""

    name: str
    every: str = ""
    cron: str = ""
    offset: str = ""
    concurrency: int | None = None
    retry: int | None = None

    @property
    def every_seconds(self) -> int:
        """``every`` in whole seconds (0 for cron tasks)."""
        return duration_ns(self.every) // _SECOND if self.every else 0

    @property
    def offset_seconds(self) -> int:
        """``offset`` in whole seconds."""
        return duration_ns(self.offset) // _SECOND if self.offset else 0


def _string_value(key: str, raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    raise FluxOptionsError(f"option {key} must be a string literal, got {raw!r}")


def _duration_value(key: str, raw: str) -> str:
    if DURATION_RE.match(raw):
        return raw
    raise FluxOptionsError(f"option {key} must be a duration literal, got {raw!r}")


def _int_value(key: str, raw: str) -> int:
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    raise FluxOptionsError(f"option {key} must be an integer literal, got {raw!r}")


def _cron_error(cron: str) -> str:
    spec = cron.strip()
    if spec in _CRON_DESCRIPTORS:
        return ""
    if spec.startswith("@every "):
        return "" if DURATION_RE.match(spec[7:].strip()) else f"syntax error in {spec!r}"
    fields = spec.split()
    if not 5 <= len(fields) <= 7 or not all(_CRON_FIELD.match(f) for f in fields):
        return f"syntax error in {spec!r}"
    return ""


def validate(opts: TaskOptions) -> None:
    """InfluxDB's ``Options.Validate``.

    Raises:
        FluxOptionsError: ``invalid options: <reason>, <reason>``.
    """
    errs: list[str] = []
    if not opts.name:
        errs.append("name required")
    if bool(opts.cron) == bool(opts.every):
        errs.append("must specify exactly one of either cron or every")
    elif opts.cron and (why := _cron_error(opts.cron)):
        errs.append("cron invalid: " + why)
    elif opts.every:
        every = duration_ns(opts.every)
        if every < _SECOND:
            errs.append("every option must be at least 1 second")
        elif every % _SECOND:
            errs.append("every option must be expressible as whole seconds")
    if opts.offset and duration_ns(opts.offset) % _SECOND:
        errs.append("offset option must be expressible as whole seconds")
    if opts.concurrency is not None and opts.concurrency < 1:
        errs.append("concurrency option must be at least 1")
    if opts.retry is not None and opts.retry < 1:
        errs.append("retry option must be at least 1")
    if errs:
        raise FluxOptionsError("invalid options: " + ", ".join(errs))


def extract_options(src: str) -> TaskOptions:
    """Read and validate a script's task options.

    Raises:
        FluxSyntaxError: the script does not parse.
        FluxOptionsError: options missing or invalid (the text after ``invalid options: ``).
    """
    toks = check_syntax(src)
    record = find_task_option(src, toks)
    if record is None:
        raise FluxOptionsError("no task options defined")
    values = dict(record.props)
    if "name" not in values:
        raise FluxOptionsError("missing required option: name")
    if "every" not in values and "cron" not in values:
        raise FluxOptionsError("missing required option: cron or every")
    offset = _duration_value("offset", values["offset"]) if "offset" in values else ""
    opts = TaskOptions(
        name=_string_value("name", values["name"]),
        every=_duration_value("every", values["every"]) if "every" in values else "",
        cron=_string_value("cron", values["cron"]) if "cron" in values else "",
        offset="" if not offset or duration_ns(offset) == 0 else offset,
        concurrency=_int_value("concurrency", values["concurrency"])
        if "concurrency" in values
        else None,
        retry=_int_value("retry", values["retry"]) if "retry" in values else None,
    )
    validate(opts)
    return opts


def update_flux(
    src: str,
    *,
    name: str = "",
    every: str = "",
    cron: str = "",
    offset: str | None = None,
) -> str:
    """Write options into the ``option task`` record and reformat the script.

    Without options to write, the script is returned unchanged.

    Raises:
        FluxSyntaxError: the script does not parse.
        FluxEditError: there is no ``option task`` record.
    """
    toks = check_syntax(src)
    updates: dict[str, str] = {}
    deletes: set[str] = set()
    if name:
        updates["name"] = flux_string(name)
    if every:
        updates["every"] = every
        deletes.add("cron")
    if cron:
        updates["cron"] = flux_string(cron)
        deletes.add("every")
    if offset is not None:
        if duration_ns(offset):
            updates["offset"] = offset
        else:
            deletes.add("offset")
    if not updates and not deletes:
        return src
    record = find_task_option(src, toks)
    if record is None:
        raise FluxEditError("unable to edit option")
    props = [(k, updates.pop(k, v)) for k, v in record.props if k not in deletes]
    props += list(updates.items())
    text = "option task = {" + ", ".join(f"{k}: {v}" for k, v in props) + "}"
    return reformat(src[: record.start] + text + src[record.end :])


def reformat(src: str) -> str:
    """Deterministic Flux layout: one space between tokens on a line, each top-level
    ``|>`` on its own line indented once, at most one blank line, no trailing blanks.

    Raises:
        FluxSyntaxError: an unterminated string.
    """
    out: list[str] = []
    depth, prev_end, after_pipe = 0, 0, False
    for tok in tokenize(src):
        gap = src[prev_end : tok.start]
        is_pipe = tok.kind == "punct" and tok.text == "|>"
        if is_pipe and depth == 0:
            out.append("\n" + INDENT)
        elif "\n" in gap and out:
            indent = gap.rsplit("\n", 1)[1].replace("\t", INDENT) if depth else ""
            out.append("\n" * min(gap.count("\n"), 2) + indent)
        elif (gap or after_pipe) and out:
            out.append(" ")
        out.append(tok.text)
        after_pipe = is_pipe
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        prev_end = tok.end
    return "\n".join(line.rstrip() for line in "".join(out).split("\n")).strip()


__all__ = [
    "FluxEditError",
    "FluxOptionsError",
    "FluxSyntaxError",
    "TaskOptions",
    "extract_options",
    "reformat",
    "update_flux",
    "validate",
]
