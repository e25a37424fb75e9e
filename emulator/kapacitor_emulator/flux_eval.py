"""The one piece of Flux the emulator evaluates: a top-level ``die(msg: "...")``.

Runs never execute their script; their result comes from the outcome queue. The
exception is a statement calling Flux's ``die()`` with a literal message (or literals
joined with ``+``): without a queued outcome, such a run fails the way Flux reports it,
``error while executing flux program: error calling function "die" @L:C-L:C: <msg>``.
That lets one failing-run test run against the emulator and a real kapacitord alike.
"""

from __future__ import annotations

import re

from kapacitor_emulator.flux_lang import FluxSyntaxError, Tok, tokenize

_STRING = r'"(?:[^"\\]|\\.)*"'
_MSG = re.compile(rf"^msg\s*:\s*({_STRING}(?:\s*\+\s*{_STRING})*)$", re.S)
_CONTINUES = {"|>", "=", "=>", ".", ",", ":", "(", "[", "{", "+", "-", "and", "or"}


def _loc(src: str, pos: int) -> str:
    line = src.count("\n", 0, pos) + 1
    return f"{line}:{pos - (src.rfind(chr(10), 0, pos) + 1) + 1}"


def _close(code: list[Tok], open_idx: int) -> int:
    depth = 0
    for idx in range(open_idx, len(code)):
        depth += code[idx].text in "([{" if code[idx].kind == "punct" else 0
        depth -= code[idx].text in ")]}" if code[idx].kind == "punct" else 0
        if depth == 0:
            return idx
    return -1


def _die_call(src: str, code: list[Tok], idx: int) -> str | None:
    """The error of ``die(msg: <literal>)`` starting at ``code[idx]``, if it is one."""
    if idx + 1 >= len(code) or code[idx + 1].text != "(":
        return None
    end = _close(code, idx + 1)
    if end < 0:
        return None
    found = _MSG.match(src[code[idx + 1].end : code[end].start].strip())
    if found is None:
        return None
    parts = re.findall(_STRING, found.group(1))
    msg = "".join(re.sub(r"\\(.)", r"\1", p[1:-1]) for p in parts)
    at = f"@{_loc(src, code[idx].start)}-{_loc(src, code[end].end)}"
    return f'error while executing flux program: error calling function "die" {at}: {msg}'


def die_error(src: str) -> str | None:
    """The error of the first top-level ``die(msg: <literal>)`` statement, if any."""
    try:
        code = [t for t in tokenize(src) if t.kind != "comment"]
    except FluxSyntaxError:
        return None
    depth = 0
    for idx, tok in enumerate(code):
        prev = code[idx - 1] if idx else None
        starts = prev is None or ("\n" in src[prev.end : tok.start] and prev.text not in _CONTINUES)
        if depth == 0 and starts and tok.text == "die" and (error := _die_call(src, code, idx)):
            return error
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
    return None
