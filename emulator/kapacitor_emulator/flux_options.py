"""Flux task options: read them from a script, validate them, write them back on PATCH.

Mirrors InfluxDB's ``options.FromScriptAST`` / ``Options.Validate`` (as vendored by
Kapacitor) and ``TaskUpdate.UpdateFlux``: a PATCH that sets ``name``/``every``/``cron``/
``offset`` edits the ``option task`` record (``every`` and ``cron`` replace each other, a
zero ``offset`` removes it) and the whole script comes back reformatted
(:mod:`~kapacitor_emulator.flux_format`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kapacitor_emulator.flux_format import format_flux
from kapacitor_emulator.flux_lang import (
    DURATION_RE,
    FluxOptionsError,
    FluxSyntaxError,
    check_syntax,
    count_task_options,
    duration_ns,
    find_task_option,
    flux_string,
)

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


def _field_error(key: str) -> FluxOptionsError:
    return FluxOptionsError(f"failed to parse field '{key}' in task options")


def _string_value(key: str, raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    raise _field_error(key)


def _duration_value(key: str, raw: str, *, signed: bool = False) -> str:
    if DURATION_RE.match(raw) and (signed or not raw.startswith("-")):
        return raw
    raise _field_error(key)


def _int_value(key: str, raw: str) -> int:
    if re.fullmatch(r"\d+", raw):
        return int(raw)
    raise _field_error(key)


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
    every_given = bool(opts.every) and duration_ns(opts.every) != 0
    if bool(opts.cron) == every_given:
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
    for key, value, most in (("concurrency", opts.concurrency, 100), ("retry", opts.retry, 10)):
        if value is not None and value < 1:
            errs.append(f"{key} must be at least 1")
        elif value is not None and value > most:
            errs.append(f"{key} exceeded max of {most}")
    if errs:
        raise FluxOptionsError("invalid options: " + ", ".join(errs))


def extract_options(src: str) -> TaskOptions:
    """Read and validate a script's task options, in ``options.FromScriptAST``'s order.

    Raises:
        FluxSyntaxError: the script does not parse.
        FluxOptionsError: options missing or invalid (the text after ``invalid options: ``).
    """
    toks = check_syntax(src)
    count = count_task_options(toks)
    if count > 1:
        raise FluxOptionsError("multiple task options defined")
    if count == 0:
        raise FluxOptionsError("no task options defined")
    record = find_task_option(src, toks)
    if record is None:  # ``option task = <not a record>`` (Kapacitor's message, verbatim)
        raise FluxOptionsError(
            'task option expected to be object literal, but found "ObjectExpression"'
        )
    values = dict(record.props)
    if "name" not in values:
        raise FluxOptionsError("missing required option: name")
    name = _string_value("name", values["name"])
    if "every" in values and "cron" in values:
        raise FluxOptionsError("cannot use both cron and every in task options")
    if "every" not in values and "cron" not in values:
        raise FluxOptionsError("missing required option: cron or every")
    cron = _string_value("cron", values["cron"]) if "cron" in values else ""
    every = _duration_value("every", values["every"]) if "every" in values else ""
    offset = _duration_value("offset", values["offset"], signed=True) if "offset" in values else ""
    ints = {k: _int_value(k, values[k]) for k in ("concurrency", "retry") if k in values}
    opts = TaskOptions(
        name=name,
        every=every,
        cron=cron,
        offset="" if not offset or duration_ns(offset) == 0 else offset,
        concurrency=ints.get("concurrency"),
        retry=ints.get("retry"),
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
    """``TaskUpdate.UpdateFlux``: write options into the ``option task`` record.

    Existing properties are edited in place (a new ``every`` replaces ``cron`` where it
    stood, and the other way round), a zero ``offset`` is removed, and missing ones are
    appended (Kapacitor appends them in Go map order, that is randomly; here in the order
    name, every, cron, offset). Then the whole script is reformatted. Without anything to
    write, the script is returned as it is.

    Raises:
        FluxSyntaxError: the script does not parse.
        FluxEditError: there is no ``option task`` record.
    """
    toks = check_syntax(src)
    updates: dict[str, str] = {}
    if name:
        updates["name"] = flux_string(name)
    if every:
        updates["every"] = every
    if cron:
        updates["cron"] = flux_string(cron)
    drop_offset = offset is not None and not duration_ns(offset)
    if offset is not None and not drop_offset:
        updates["offset"] = offset
    if not updates and not drop_offset:
        return src
    record = find_task_option(src, toks)
    if record is None:
        raise FluxEditError("unable to edit option")
    props: list[tuple[str, str]] = []
    for key, value in record.props:
        if key == "offset" and drop_offset:
            continue
        if key in ("every", "cron") and key not in updates:
            other = "cron" if key == "every" else "every"
            key = other if other in updates else key
        props.append((key, updates.pop(key, value)))
    props += list(updates.items())
    text = "option task = {" + ", ".join(f"{k}: {v}" for k, v in props) + "}"
    return format_flux(src[: record.start] + text + src[record.end :])


__all__ = [
    "FluxEditError",
    "FluxOptionsError",
    "FluxSyntaxError",
    "TaskOptions",
    "extract_options",
    "update_flux",
    "validate",
]
