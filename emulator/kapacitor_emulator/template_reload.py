"""Template updates reaching their tasks, and the compile check Kapacitor runs on read.

When a template is saved, ``task_store`` reloads the tasks associated with it (see
:mod:`template_links`) in task ID order: each takes the template's script and type, and
its dbrps when either script has ``dbrp`` statements, and an enabled one restarts. The
first that cannot restart makes the update a 500 and every task done so far is put back
(the template itself is not). A disabled task takes a script that no longer compiles;
GET then shows the compile error (:func:`compile_error`).
"""

from __future__ import annotations

from collections.abc import Callable

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.responses import NativeError
from kapacitor_emulator.state import Template, TickTask
from kapacitor_emulator.template_links import link, unlink
from kapacitor_emulator.tick_common import check_vars, parse_script
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import TickSyntaxError

Starter = Callable[[TickTask], None]
"""Starts a task from its stored definition (``tick_tasks.restart``)."""


def compile_error(task: TickTask) -> str:
    """What compiling the stored definition says (a missing var), or ``""``."""
    try:
        check_vars(parse_script(task.definition.script), task.definition.vars)
    except NativeError as exc:
        return exc.message.removeprefix("invalid TICKscript: ")
    return ""


def _script_dbrps(script: str) -> list[tuple[str, str]]:
    try:
        return parse_tickscript(script).dbrps
    except TickSyntaxError:
        return []


def _retemplate(
    task: TickTask, template: Template, dbrps: list[tuple[str, str]] | None, start: Starter
) -> str:
    """Give a task a template's definition; restart it when enabled. The start error."""
    task.template_id, task.type = template.id, template.type
    task.definition.script = template.script
    if dbrps is not None:
        task.definition.dbrps = list(dbrps)
    if task.status != "enabled":
        return ""
    error = compile_error(task)
    if not error and not task.definition.dbrps:
        error = "task does contain any dbrps"  # sic
    if error:
        task.running, task.error = None, ""
        return error
    start(task)
    return task.error


def reload_template_tasks(
    emu: Emulator, old: Template, new: Template, task_ids: list[str], start: Starter
) -> None:
    """A template was saved: its associated tasks take the new definition, in order, and
    enabled ones restart. When one cannot restart, every task done so far (that one
    included) gets the old definition back and restarts, later ones are untouched, and
    the template keeps its new script (Kapacitor does not roll it back).

    Raises:
        NativeError: 500 ``error reloading associated task <id>: <why>``.
    """
    old_dbrps, new_dbrps = _script_dbrps(old.script), _script_dbrps(new.script)
    done: list[TickTask] = []
    for task_id in task_ids:
        task = emu.state.tasks.get(task_id)
        if task is None:
            unlink(emu, old.id, task_id)
            continue
        if old.id != new.id:
            link(emu, new.id, task_id)
        done.append(task)
        error = _retemplate(task, new, new_dbrps if old_dbrps or new_dbrps else None, start)
        if error:
            for undo in done:
                _retemplate(undo, old, old_dbrps if old_dbrps else None, start)
            raise NativeError(500, f"error reloading associated task {task_id}: {error}")
