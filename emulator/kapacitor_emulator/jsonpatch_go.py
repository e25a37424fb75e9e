"""RFC 6902 JSON Patch as ``github.com/evanphx/json-patch`` v4.9.0 applies it.

Kapacitor PATCHes alert handlers with that library, and its quirks show through the API:
``replace`` of a missing object key adds it, ``remove`` of one fails with ``Unable to
remove nonexistent key``, an unknown ``op`` is ``Unexpected kind: <op>`` (``unknown``
when absent), the first path segment is ignored, negative array indices count from the
end, and every error message is wrapped the library's way (``<context>: <cause>:
missing value``). Operations apply to a copy; the caller gets the new document or a
:class:`PatchError`.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from kapacitor_emulator.gostruct import json_kind
from kapacitor_emulator.gosyntax import GoSyntaxError, check_syntax

MISSING = "missing value"
INVALID_INDEX = "invalid index referenced"
TEST_FAILED = "test failed"


class PatchDecodeError(ValueError):
    """The body is not a JSON Patch (``invalid patch json: ...``)."""


class PatchError(ValueError):
    """An operation does not apply (``failed to apply patch: ...``)."""


_INT_RE = re.compile(r"^[+-]?\d+$")


def decode_patch(raw: bytes) -> list[dict[str, Any]]:
    """Decode like ``jsonpatch.DecodePatch`` (``json.Unmarshal`` into ``[]Operation``).

    Raises:
        PatchDecodeError: with Go's message.
    """
    try:
        check_syntax(raw, stream=False)
    except GoSyntaxError as exc:
        raise PatchDecodeError(str(exc)) from exc
    value = json.loads(raw.decode("utf-8", errors="replace"))
    if value is None:
        return []
    if not isinstance(value, list):
        raise PatchDecodeError(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type jsonpatch.Patch"
        )
    for op in value:
        if op is not None and not isinstance(op, dict):
            raise PatchDecodeError(
                f"json: cannot unmarshal {json_kind(op)} into Go value of type jsonpatch.Operation"
            )
    return [op or {} for op in value]


def _string_field(op: dict[str, Any], name: str, context: str, *, cause: bool = True) -> str:
    """``op.Path()`` / ``op.From()``; ``cause=False`` when the library drops the cause."""
    value = op.get(name)
    if isinstance(value, str):
        return value
    if not cause:
        raise PatchError(f"{context}: {MISSING}")
    if value is None:
        field = (
            "operation missing path field" if name == "path" else "operation, missing from field"
        )
        raise PatchError(f"{context}: {field}: {MISSING}")
    raise PatchError(
        f"{context}: json: cannot unmarshal {json_kind(value)} into Go value of type string"
    )


def _kind(op: dict[str, Any]) -> str:
    value = op.get("op")
    return value if isinstance(value, str) else "unknown"


def _atoi(key: str) -> int:
    if not _INT_RE.match(key):
        raise PatchError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _find(doc: Any, path: str) -> tuple[Any, str] | None:
    """``findObject``: the container holding the last segment, and that segment."""
    split = path.split("/")
    if len(split) < 2:
        return None
    current = doc
    for part in split[1:-1]:
        key = _unescape(part)
        try:
            nxt = _get(current, key)
        except PatchError:
            return None
        if not isinstance(nxt, dict | list):
            return None
        current = nxt
    return current, _unescape(split[-1])


def _get(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    idx = _atoi(key)
    if idx >= len(container) or idx < -len(container):
        raise PatchError(f"Unable to access invalid index: {idx}: {INVALID_INDEX}")
    return container[idx]


def _add(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    try:
        idx = _atoi(key)
    except PatchError as exc:
        raise PatchError(f"value was not a proper array index: '{key}': {exc}") from exc
    size = len(container) + 1
    if idx >= size or idx < -size:
        raise PatchError(f"Unable to access invalid index: {idx}: {INVALID_INDEX}")
    container.insert(idx + size if idx < 0 else idx, value)


def _remove(container: Any, key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise PatchError(f"Unable to remove nonexistent key: {key}: {MISSING}")
        del container[key]
        return
    idx = _atoi(key)
    if idx >= len(container) or idx < -len(container):
        raise PatchError(f"Unable to access invalid index: {idx}: {INVALID_INDEX}")
    del container[idx]


def _locate(doc: Any, path: str, template: str) -> tuple[Any, str]:
    found = _find(doc, path)
    if found is None:
        raise PatchError(f"{template.format(path)}: {MISSING}")
    return found


def _wrap(context: str, action: Any, *args: Any) -> Any:
    try:
        return action(*args)
    except PatchError as exc:
        raise PatchError(f"{context}: {exc}") from exc


def _apply_one(doc: Any, op: dict[str, Any]) -> None:
    kind = _kind(op)
    value = op.get("value")
    if kind == "add":
        path = _string_field(op, "path", "add operation failed to decode path", cause=False)
        con, key = _locate(doc, path, 'add operation does not apply: doc is missing path: "{}"')
        _wrap(f"error in add for path: '{path}'", _add, con, key, value)
    elif kind == "remove":
        path = _string_field(op, "path", "remove operation failed to decode path", cause=False)
        con, key = _locate(doc, path, 'remove operation does not apply: doc is missing path: "{}"')
        _wrap(f"error in remove for path: '{path}'", _remove, con, key)
    elif kind == "replace":
        path = _string_field(op, "path", "replace operation failed to decode path")
        con, key = _locate(doc, path, "replace operation does not apply: doc is missing path: {}")
        if isinstance(con, list):
            _wrap(f"replace operation does not apply: doc is missing key: {path}", _get, con, key)
            con[_atoi(key)] = value
        else:
            con[key] = value
    elif kind in ("move", "copy"):
        _move_or_copy(doc, op, kind)
    elif kind == "test":
        path = _string_field(op, "path", "test operation failed to decode path")
        con, key = _locate(doc, path, "test operation does not apply: is missing path: {}")
        current = _wrap(f"error in test for path: '{path}'", _get, con, key)
        if not _equal(current, value):
            raise PatchError(f"testing value {path} failed: {TEST_FAILED}")
    else:
        raise PatchError(f"Unexpected kind: {kind}")


def _move_or_copy(doc: Any, op: dict[str, Any], kind: str) -> None:
    source = _string_field(op, "from", f"{kind} operation failed to decode from")
    con, key = _locate(
        doc, source, kind + " operation does not apply: doc is missing from path: {}"
    )
    if kind == "move":
        context = f"error in move for path: '{key}'"
    else:
        context = f"error in copy for from: '{source}'"
    value = copy.deepcopy(_wrap(context, _get, con, key))
    if kind == "move":
        _wrap(context, _remove, con, key)
    path = _string_field(
        op, "path", f"{kind} operation failed to decode path", cause=kind == "move"
    )
    dest, dkey = _locate(
        doc, path, kind + " operation does not apply: doc is missing destination path: {}"
    )
    if kind == "move":
        add_context = f"error in move for path: '{path}'"
    else:
        add_context = "error while adding value during copy"
    _wrap(add_context, _add, dest, dkey, value)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def apply_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the operations in order to a copy of ``doc``.

    Raises:
        PatchError: an operation that does not apply (the library's message).
    """
    work = copy.deepcopy(doc)
    for op in ops:
        _apply_one(work, op)
    return work
