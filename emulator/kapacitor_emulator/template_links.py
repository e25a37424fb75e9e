"""Template↔task associations, kept apart from the tasks' ``template-id`` as Kapacitor does.

The task store records ``templates/tasks/<template>/<task>`` when a task is created from a
template, or PATCHed onto another template or ID, and removes it when the task is
deleted. Deleting a template drops its associations but leaves the tasks' ``template-id``
in place, so a template re-created with the same ID does not reach them (and PATCHing such
a task re-reads the new template without associating it again). A template update reloads
exactly the associated tasks, in task ID order.
"""

from __future__ import annotations

from kapacitor_emulator.core import Emulator


def link(emu: Emulator, template_id: str, task_id: str) -> None:
    """Associate a task with a template."""
    if template_id:
        emu.state.template_links.add((template_id, task_id))


def unlink(emu: Emulator, template_id: str, task_id: str) -> None:
    """Forget one association (no-op when absent)."""
    emu.state.template_links.discard((template_id, task_id))


def relink(emu: Emulator, old: tuple[str, str], new: tuple[str, str]) -> None:
    """A PATCH changed the task's ID or template: move its association."""
    if old != new and new[0]:
        unlink(emu, *old)
        link(emu, *new)


def linked_tasks(emu: Emulator, template_id: str) -> list[str]:
    """The associated task IDs, sorted as the store lists its keys."""
    ids = [task for template, task in emu.state.template_links if template == template_id]
    return sorted(ids, key=str.encode)


def drop_template(emu: Emulator, template_id: str) -> None:
    """A deleted (or renamed) template loses all its associations."""
    emu.state.template_links = {pair for pair in emu.state.template_links if pair[0] != template_id}
