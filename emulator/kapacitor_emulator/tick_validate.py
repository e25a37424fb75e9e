"""Validate TICKscript tasks and templates as kapacitord v1.8.3 does when they are written.

The task store parses the script (``invalid TICKscript: parser: ...``), reads its type
from the ``stream``/``batch`` chains, then compiles it: the body's vars are converted
(a lambda var must parse, a regex var must compile), the script is evaluated into a
pipeline and every node is validated; a task whose pipeline is only its source "does
nothing". Templates compile the same way, with vars that have no value taking their
type's zero value. :mod:`tick_parse`, :mod:`tick_eval` and :mod:`tick_pipeline` do the
work; this module is the entry point and says how far the emulator can be trusted:
write responses carry ``X-Emulator-Validation: partial`` (see ``docs/emulator.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kapacitor_emulator import tick_ast as ast
from kapacitor_emulator.go_regexp import regexp_error
from kapacitor_emulator.state import Var
from kapacitor_emulator.tick_eval import Evaluator
from kapacitor_emulator.tick_parse import TickParseError, parse, parse_lambda
from kapacitor_emulator.tick_values import LIST, STAR, VAR_TYPES, EvalError, Value

VALIDATION_HEADER = "X-Emulator-Validation"
VALIDATION_LEVEL = "partial"
"""The emulator checks scripts as Kapacitor does for the common mistakes, not all."""
_SCRIPT_COLLECTIONS = (
    "/kapacitor/v1/tasks",
    "/kapacitor/v1/templates",
    "/kapacitor/v1/api/v2/tasks",
)
STARTUP_WARNING = (
    "kapacitor-emulator: TICKscript and Flux validation is partial: scripts a real "
    "kapacitord rejects may be accepted here (see docs/emulator.md, 'What is validated')"
)

__all__ = [
    "STARTUP_WARNING",
    "VALIDATION_HEADER",
    "VALIDATION_LEVEL",
    "EvalError",
    "TickParseError",
    "compile_task",
    "compile_template",
    "is_script_write",
    "parse",
    "script_dbrps",
    "task_type",
]


def is_script_write(method: str, path: str) -> bool:
    """Whether a request writes a script the emulator validates (task and template POST
    and PATCH, TICKscript and Flux): its response carries :data:`VALIDATION_HEADER`."""
    for base in _SCRIPT_COLLECTIONS:
        if method == "POST" and path == base:
            return True
        rest = path.removeprefix(base + "/")
        if method == "PATCH" and rest != path and rest and "/" not in rest:
            return True
    return False


def _root(node: ast.Node) -> ast.Node:
    while isinstance(node, ast.Chain):
        node = node.left
    return node


def task_type(program: ast.Program) -> str:
    """``stream`` or ``batch`` from the roots of the top-level chains and var values;
    ``invalid`` when there are none or both (Kapacitor's ``taskTypeFromProgram``)."""
    kinds = set()
    for statement in program.statements:
        value = statement.value if isinstance(statement, ast.Decl) else statement
        if isinstance(statement, (ast.Decl, ast.Chain)):
            root = _root(value)
            if isinstance(root, ast.Ident) and root.name in ("stream", "batch"):
                kinds.add(root.name)
    return kinds.pop() if len(kinds) == 1 else "invalid"


def script_dbrps(program: ast.Program) -> list[tuple[str, str]]:
    """The script's ``dbrp "db"."rp"`` statements."""
    return [(s.db.name, s.rp.name) for s in program.statements if isinstance(s, ast.DBRP)]


def _var_value(name: str, var: Var) -> Value:
    go_type = VAR_TYPES[var.type]
    if var.type == "lambda":
        try:
            return Value(go_type, parse_lambda(str(var.value)))
        except TickParseError as exc:
            raise EvalError(f"invalid var {name}: invalid lambda expression: {exc}") from exc
    if var.type == "regex" and (error := regexp_error(str(var.value))):
        raise EvalError(f"invalid var {name}: invalid regex pattern: {error}")
    if var.type == "list":
        items = [_var_value(name, Var(item["type"], item["value"])) for item in var.value]
        return Value(LIST, items)
    if var.type == "star":
        return Value(STAR)
    return Value(go_type, _number(var))


def _number(var: Var) -> Any:
    return float(var.value) if var.type == "float" else var.value


def convert_vars(values: Mapping[str, Var]) -> dict[str, Value]:
    """The body's vars as evaluator values (``convertToTickVarsFromService``).

    Raises:
        EvalError: ``invalid var x: invalid lambda expression: ...`` (or regex pattern).
    """
    return {name: _var_value(name, var) for name, var in values.items()}


def _compile(script: str, source: str, predefined: Mapping[str, Value], template: bool) -> None:
    evaluator = Evaluator(source, predefined, ignore_missing=template)
    evaluator.run(parse(script))
    if error := evaluator.pipeline.validate():
        raise EvalError(error)
    if not template and len(evaluator.pipeline.sorted_nodes()) <= 1:
        raise EvalError("task does nothing")


def compile_task(script: str, source: str, values: Mapping[str, Var]) -> None:
    """Compile a task (``source`` is its type) with its vars.

    Raises:
        EvalError: Kapacitor's compile error (after ``invalid TICKscript: ``).
        TickParseError: cannot happen for a script that :func:`parse` accepted.
    """
    _compile(script, source, convert_vars(values), template=False)


def compile_template(script: str, source: str) -> None:
    """Compile a template: vars declared without a value take their zero value.

    Raises:
        EvalError: Kapacitor's compile error (after ``invalid TICKscript: ``).
    """
    _compile(script, source, {}, template=True)
