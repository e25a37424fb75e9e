"""Contract: Flux task scripts kapacitord v1.8.3 rejects (issue 13).

A Flux task's script is parsed by Flux and its ``option task`` record read by InfluxDB's
``options.FromScriptAST``. POST answers 400 ``invalid options: <reason>``; PATCH answers
``failed to update task: <reason>``, with 500 for a syntax error and 400
``... invalid options: <reason>`` for an options error. Syntax errors read ``loc
<start>-<end>: <message>``, located on the syntax node Flux attaches them to. The
option cases follow the Flux task API's own checks; the syntax cases are the common
mistakes the emulator recognizes. Every case runs against the emulator and a real
kapacitord; the texts were taken from kapacitord v1.8.3.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import FLUX, assert_flux_error, create_flux, flux_script

OPTION = 'option task = {name: "x", every: 1h}\n'


def flux_case(case_id: str, script: str, reason: str, *, syntax: bool) -> Any:
    return pytest.param(script, reason, syntax, id=case_id)


INVALID_FLUX = [
    flux_case(
        ("no-task-options"),
        'from(bucket: "b") |> range(start: -1h)\n',
        "no task options defined",
        syntax=False,
    ),
    flux_case(
        ("missing-name"),
        ('option task = {every: 1h}\nfrom(bucket: "b")\n'),
        "missing required option: name",
        syntax=False,
    ),
    flux_case(
        ("missing-schedule"),
        ('option task = {name: "x"}\nfrom(bucket: "b")\n'),
        "missing required option: cron or every",
        syntax=False,
    ),
    flux_case(
        ("every-and-cron"),
        ('option task = {name: "x", every: 1h, cron: "* * * * *"}\nfrom(bucket: "b")\n'),
        "cannot use both cron and every in task options",
        syntax=False,
    ),
    flux_case(
        ("name-not-a-string"),
        ('option task = {name: 5, every: 1h}\nfrom(bucket: "b")\n'),
        "failed to parse field 'name' in task options",
        syntax=False,
    ),
    flux_case(
        ("every-as-string"),
        ('option task = {name: "x", every: "1h"}\nfrom(bucket: "b")\n'),
        "failed to parse field 'every' in task options",
        syntax=False,
    ),
    flux_case(
        ("every-zero"),
        ('option task = {name: "x", every: 0s}\nfrom(bucket: "b")\n'),
        "invalid options: must specify exactly one of either cron or every",
        syntax=False,
    ),
    flux_case(
        ("every-under-a-second"),
        ('option task = {name: "x", every: 500ms}\nfrom(bucket: "b")\n'),
        "invalid options: every option must be at least 1 second",
        syntax=False,
    ),
    flux_case(
        ("offset-fraction-of-second"),
        ('option task = {name: "x", every: 1h, offset: 1500ms}\nfrom(bucket: "b")\n'),
        "invalid options: offset option must be expressible as whole seconds",
        syntax=False,
    ),
    flux_case(
        ("concurrency-zero"),
        ('option task = {name: "x", every: 1h, concurrency: 0}\nfrom(bucket: "b")\n'),
        "invalid options: concurrency must be at least 1",
        syntax=False,
    ),
    flux_case(
        ("retry-too-high"),
        ('option task = {name: "x", every: 1h, retry: 11}\nfrom(bucket: "b")\n'),
        "invalid options: retry exceeded max of 10",
        syntax=False,
    ),
    flux_case(
        ("two-task-options"),
        OPTION + OPTION + 'from(bucket: "b")\n',
        "multiple task options defined",
        syntax=False,
    ),
    flux_case(
        ("task-option-not-a-record"),
        ('option task = 5\nfrom(bucket: "b")\n'),
        'task option expected to be object literal, but found "ObjectExpression"',
        syntax=False,
    ),
    flux_case(
        ("unclosed-call"),
        OPTION + 'from(bucket: "b"',
        "loc 2:1-2:17: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-call-before-newline"),
        OPTION + 'from(bucket: "b"\n',
        "loc 2:1-3:1: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-outer-call-wins"),
        OPTION + ('from(bucket: "b" |> range(start: -1h'),
        "loc 2:1-2:37: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-last-call-of-pipeline"),
        OPTION
        + (
            'from(bucket: "b")\n  |> range(start: -1h)\n  |> filter(fn: (r) => '
            'r._measurement == "cpu"\n'
        ),
        "loc 4:6-5:1: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-member-call"),
        OPTION + "array.from(rows: [{a: 1}]",
        "loc 2:1-2:26: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-paren-expression"),
        OPTION + "x = (1 + 2",
        "loc 2:5-2:11: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-record"),
        OPTION + "x = {a: 1",
        "loc 2:5-2:10: expected RBRACE, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unclosed-array"),
        OPTION + "x = [1, 2",
        "loc 2:5-2:10: expected RBRACK, got EOF",
        syntax=True,
    ),
    flux_case(
        ("record-closed-by-paren"),
        OPTION + "from(x: {a: 1)",
        "loc 2:9-2:15: expected RBRACE, got RPAREN",
        syntax=True,
    ),
    flux_case(
        ("paren-closed-by-brace"),
        OPTION + "x = {a: (1}",
        "loc 2:9-2:12: expected RPAREN, got RBRACE",
        syntax=True,
    ),
    flux_case(
        ("extra-closing-paren"),
        OPTION + ('from(bucket: "b"))'),
        "loc 2:18-2:19: invalid statement @2:18-2:19: )",
        syntax=True,
    ),
    flux_case(
        ("closing-before-opening"),
        OPTION + ")(",
        "loc 2:1-2:2: invalid statement @2:1-2:2: )",
        syntax=True,
    ),
    flux_case(
        ("stray-closing-brace"),
        OPTION + "x = 1\n}",
        "loc 3:1-3:2: invalid statement @3:1-3:2: }",
        syntax=True,
    ),
    flux_case(
        ("dollar-sign"), OPTION + "$", "loc 2:1-2:2: invalid statement @2:1-2:2: $", syntax=True
    ),
    flux_case(
        ("semicolon"),
        OPTION + "x = 1\n;",
        "loc 3:1-3:2: invalid statement @3:1-3:2: ;",
        syntax=True,
    ),
    flux_case(
        ("import-after-option"),
        OPTION + 'import "array"\n',
        "loc 2:1-2:7: invalid statement @2:1-2:7: import",
        syntax=True,
    ),
    flux_case(
        ("import-after-statement"),
        ('import "array"\n') + OPTION + ('import "strings"\n'),
        "loc 3:1-3:7: invalid statement @3:1-3:7: import",
        syntax=True,
    ),
    flux_case(
        ("unterminated-string"),
        OPTION + ('x = "abc\n'),
        "loc 2:5-3:1: got unexpected token in string expression @3:1-3:1: EOF",
        syntax=True,
    ),
    flux_case(
        ("unterminated-interpolation"),
        OPTION + ('x = "abc ${y'),
        "loc 2:5-2:13: got unexpected token in string expression @2:13-2:13: EOF",
        syntax=True,
    ),
    flux_case(
        ("unterminated-string-in-call"),
        OPTION + 'from(bucket: "b',
        "loc 2:1-2:16: expected RPAREN, got EOF",
        syntax=True,
    ),
    flux_case(
        ("unterminated-regex"),
        OPTION + ("x = /unterminated"),
        "loc 2:5-2:18: missing left hand side of expression",
        syntax=True,
    ),
    flux_case(
        ("pipe-to-nothing"),
        OPTION + ('from(bucket: "b") |> \n'),
        "loc 3:1-3:1: pipe destination must be a function call",
        syntax=True,
    ),
    flux_case(
        ("pipe-to-a-number"),
        OPTION + ('from(bucket: "b") |> 5'),
        "loc 2:22-2:23: pipe destination must be a function call",
        syntax=True,
    ),
    flux_case(
        ("pipe-to-a-name"),
        OPTION + ('from(bucket: "b") |> yield'),
        "loc 2:22-2:27: pipe destination must be a function call",
        syntax=True,
    ),
    flux_case(
        ("missing-right-operand"),
        OPTION + "x = 1 +",
        "loc 2:5-2:8: missing right hand side of expression",
        syntax=True,
    ),
    flux_case(
        ("missing-right-operand-precedence"),
        OPTION + "x = 1 + 2 *",
        "loc 2:9-2:12: missing right hand side of expression",
        syntax=True,
    ),
    flux_case(
        ("missing-right-operand-chain"),
        OPTION + "x = a + b +",
        "loc 2:5-2:12: missing right hand side of expression",
        syntax=True,
    ),
    flux_case(
        ("missing-right-operand-in-lambda"),
        OPTION + ('from(bucket: "b") |> filter(fn: (r) => r._value > )'),
        "loc 2:40-2:52: missing right hand side of expression",
        syntax=True,
    ),
    flux_case(
        ("missing-right-operand-in-argument"),
        OPTION + ("x = f(a: 1 +, b: 2)"),
        "loc 2:10-2:14: missing right hand side of expression",
        syntax=True,
    ),
]


@pytest.mark.parametrize(("script", "reason", "syntax"), INVALID_FLUX)
def test_invalid_flux_task_is_rejected(
    api: httpx.Client, script: str, reason: str, syntax: bool
) -> None:
    del syntax  # POST answers 400 for both kinds
    resp = api.post(FLUX, json={"flux": script})
    assert_flux_error(resp, 400, "invalid", f"invalid options: {reason}")


@pytest.mark.parametrize(("script", "reason", "syntax"), INVALID_FLUX)
def test_invalid_flux_patch_is_rejected_and_keeps_the_task(
    api: httpx.Client, uid: str, script: str, reason: str, syntax: bool
) -> None:
    task = create_flux(api, f"flux-invalid-{uid}")
    resp = api.patch(f"{FLUX}/{task['id']}", json={"flux": script})
    if syntax:
        assert_flux_error(resp, 500, "internal error", f"failed to update task: {reason}")
    else:
        message = f"failed to update task: invalid options: {reason}"
        assert_flux_error(resp, 400, "invalid", message)
    assert api.get(f"{FLUX}/{task['id']}").json()["flux"] == flux_script(f"flux-invalid-{uid}")
