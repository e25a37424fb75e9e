"""TICKscript evaluation, as Kapacitor's stack machine does it (``tick/eval.go``).

Each statement is evaluated left to right: a function call first evaluates its
arguments (resolving identifiers against the scope: ``time``, ``stream`` or ``batch``,
and the vars declared so far), then is applied to the object on its left, found in
:mod:`~kapacitor_emulator.tick_nodes`' table. The errors, with their ``line L char C``
prefixes where Kapacitor adds one, are Kapacitor's: unknown methods and properties
(with the "use '.' instead" hints), Go reflection panics for wrong arguments, undefined
names, var type mismatches and missing template vars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kapacitor_emulator import tick_ast as ast
from kapacitor_emulator.tick_binary import evaluate_binary, resolve_idents
from kapacitor_emulator.tick_literals import go_quote
from kapacitor_emulator.tick_nodes import (
    GoPanic,
    Signature,
    capitalize,
    chain_signature,
    check_call,
    check_set,
    go_type,
)
from kapacitor_emulator.tick_pipeline import (
    NodeState,
    Pipeline,
    View,
    call_property,
    set_field,
)
from kapacitor_emulator.tick_tokens import T
from kapacitor_emulator.tick_values import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    LAMBDA,
    LIST,
    NIL,
    REFERENCE,
    STAR,
    STRING,
    TIME_DIMENSION,
    UNKNOWN,
    VAR_TYPES,
    EvalError,
    Value,
    go_format,
    value_type,
    zero_value,
)

_TIME = Signature(("time.Duration", "[]time.Duration"), True, (TIME_DIMENSION, "error"))
_GO_KINDS = {INT: "int64", DURATION: "int64", FLOAT: "float64", STRING: "string", BOOL: "bool"}
_GO_KINDS |= {LIST: "slice", TIME_DIMENSION: "struct"}


@dataclass
class Unbound:
    """A function call whose arguments are evaluated, waiting for its receiver."""

    func: ast.Func
    args: list[Value]

    @property
    def go_type(self) -> str:
        return "tick.unboundFunc"


Item = Value | ast.Ident | Unbound


def _at(pos: ast.Pos, message: str) -> EvalError:
    return EvalError(f"line {pos.line} char {pos.char}: {message}")


class Scope:
    """Names an expression can use, in the order they were defined."""

    def __init__(self) -> None:
        self.names: dict[str, Value | Unbound] = {}

    def get(self, name: str) -> Value | Unbound:
        """Raises: EvalError: ``name "x" is undefined. Names in scope: ...`` (Kapacitor
        lists them in Go map order, i.e. randomly)."""
        if name in self.names:
            return self.names[name]
        raise EvalError(f'name "{name}" is undefined. Names in scope: {",".join(self.names)}')


class Evaluator:
    """Evaluate one script into a :class:`Pipeline`."""

    def __init__(self, source: str, predefined: Mapping[str, Value], ignore_missing: bool) -> None:
        self.scope = Scope()
        self.scope.names["time"] = Value("func", "time")
        node_type = "*pipeline.StreamNode" if source == "stream" else "*pipeline.BatchNode"
        node = NodeState(node_type, source)
        self.pipeline = Pipeline(node)
        self.scope.names[source] = Value(node_type, View(node_type, node))
        self.predefined = predefined
        self.ignore_missing = ignore_missing
        self.stack: list[Item] = []

    def resolve(self, item: Item) -> Value | Unbound:
        return self.scope.get(item.name) if isinstance(item, ast.Ident) else item

    def run(self, program: ast.Program) -> None:
        """Raises: EvalError."""
        for statement in program.statements:
            self.eval(statement)
            if self.stack:
                top = self.stack.pop()
                if isinstance(top, Unbound):
                    self.call(top, None)

    def eval(self, node: ast.Node) -> None:
        push = self.stack.append
        if isinstance(node, ast.Bool):
            push(Value(BOOL, node.value))
        elif isinstance(node, ast.Number):
            push(Value(INT if node.is_int else FLOAT, node.value))
        elif isinstance(node, ast.Duration):
            push(Value(DURATION, node.nanos))
        elif isinstance(node, ast.String):
            push(Value(STRING, node.literal))
        elif isinstance(node, ast.Regex):
            push(Value("*regexp.Regexp", node.pattern))
        elif isinstance(node, ast.Star):
            push(Value(STAR, node))
        elif isinstance(node, ast.Reference):
            push(Value(REFERENCE, node.name))
        elif isinstance(node, ast.Unary):
            self.eval(node.operand)
            push(self.unary(node, self.resolve(self.stack.pop())))
        elif isinstance(node, ast.Binary):
            push(evaluate_binary(resolve_idents(node, self.scope.get)))
        elif isinstance(node, ast.Lambda):
            push(Value(LAMBDA, resolve_idents(node.expr, self.scope.get)))
        elif isinstance(node, ast.ListLit):
            items = []
            for item in node.items:
                self.eval(item)
                items.append(self.resolve(self.stack.pop()))
            push(Value(LIST, items))
        elif isinstance(node, ast.TypeDecl):
            self.type_declaration(node)
        elif isinstance(node, ast.Decl):
            self.eval(node.value)
            self.declaration(node)
        elif isinstance(node, ast.Chain):
            self.eval(node.left)
            self.eval(node.right)
            self.chain(node)
        elif isinstance(node, ast.Func):
            push(Unbound(node, [self.argument(arg) for arg in node.args]))
        elif isinstance(node, ast.Ident):
            push(node)
        else:
            push(Value(UNKNOWN))

    def argument(self, node: ast.Node) -> Value:
        self.eval(node)
        arg = self.resolve(self.stack.pop())
        if isinstance(arg, Unbound):
            return self.call(arg, None)
        return arg

    def unary(self, node: ast.Unary, operand: Value | Unbound) -> Value:
        if isinstance(operand, Unbound) or operand.unknown:
            return Value(UNKNOWN)
        if node.op is T.MINUS and operand.go_type in (FLOAT, INT, DURATION):
            return Value(operand.go_type, -operand.value)
        if node.op is T.NOT and operand.go_type == BOOL:
            return Value(BOOL, not operand.value)
        sign = "-" if node.op is T.MINUS else "!"
        raise _at(node.pos, f"invalid arugument to '{sign}' {go_format(operand)}")

    def type_declaration(self, node: ast.TypeDecl) -> None:
        declared = VAR_TYPES.get(node.type_name.name)
        if declared is None:
            raise EvalError(f"invalid var type {go_quote(node.type_name.name)}")
        name = node.name.name
        if name in self.predefined:
            self.scope.names[name] = self._predefined(name, declared)
        elif self.ignore_missing:
            self.scope.names[name] = zero_value(declared)
        else:
            raise EvalError(f"missing value for var {go_quote(name)}.")

    def _predefined(self, name: str, expected: str) -> Value:
        given = self.predefined[name]
        got, exp = value_type(given.go_type), value_type(expected)
        if got != exp:
            raise EvalError(f"invalid type supplied for {name}, got {got} exp {exp}")
        return given

    def declaration(self, node: ast.Decl) -> None:
        name = node.name.name
        if name in self.scope.names:
            raise EvalError(f"attempted to redefine {name}, vars are immutable")
        value = self.resolve(self.stack.pop())
        if name in self.predefined and not (isinstance(value, Value) and value.unknown):
            value = self._predefined(name, value.go_type)
        self.scope.names[name] = value

    def chain(self, node: ast.Chain) -> None:
        right = self.stack.pop()
        left = self.resolve(self.stack.pop())
        if isinstance(right, Unbound):
            self.stack.append(self.call(right, left))
        elif isinstance(right, ast.Ident):
            self.stack.append(Value(UNKNOWN))  # reading a field: rare, not modelled
        else:
            raise _at(node.pos, f"invalid right operand of type {right.go_type} to '.' operator")

    def call(self, unbound: Unbound, obj: Value | Unbound | None) -> Value:
        """Apply a function to its receiver (``None`` for a global function).

        Raises:
            EvalError: Kapacitor's error for this call.
        """
        func, args = unbound.func, unbound.args
        if len(args) == 1 and args[0].go_type == LIST:
            args = list(args[0].value)
        receiver = NIL if obj is None else obj.go_type
        try:
            if func.kind is ast.FuncType.GLOBAL:
                return self.global_call(func, args)
            return self.method_call(func, args, obj)
        except GoPanic as exc:
            message = f"error calling func {go_quote(func.name)} on obj {receiver}: {exc}"
            if REFERENCE in message and "type string" in message:
                message = (
                    f"cannot assign {REFERENCE} to type string, "
                    "did you use double quotes instead of single quotes?"
                )
            raise _at(func.pos, message) from exc

    def global_call(self, func: ast.Func, args: list[Value]) -> Value:
        target = self.scope.names.get(func.name)
        if target is None:
            raise _at(func.pos, f"no global function {go_quote(func.name)} defined")
        if isinstance(target, Unbound) or target.unknown:
            return Value(UNKNOWN)
        if target.go_type != "func":
            kind = _GO_KINDS.get(target.go_type, "ptr")
            raise GoPanic(f"reflect: call of reflect.Value.Call on {kind} Value")
        check_call(_TIME, args)
        if len(args) > 2:
            raise _at(func.pos, f"time() function expects 1 or 2 args, got {len(args)}")
        return Value(TIME_DIMENSION)

    def method_call(self, func: ast.Func, args: list[Value], obj: Value | Unbound | None) -> Value:
        if obj is None or (isinstance(obj, Value) and obj.go_type == NIL):
            raise _at(func.pos, "object is invalid <nil> of type <nil>")
        if isinstance(obj, Unbound) or obj.go_type in _GO_KINDS or obj.go_type == "func":
            raise _at(func.pos, "cannot get properties of non pointer value")
        if not isinstance(obj.value, View):
            return Value(UNKNOWN)
        view: View = obj.value
        info = go_type(view.go_type)
        if info is None:
            return Value(UNKNOWN)
        name = capitalize(func.name)
        has_chain = name in info.chain
        has_property = name in info.properties or name in info.fields
        quoted, kind = go_quote(func.name), func.kind
        if kind is ast.FuncType.CHAIN and has_chain:
            sig = chain_signature(name)
            check_call(sig, args)
            result = self.pipeline.chain(view, name, sig, args)
            return result if isinstance(result, Value) else Value(result.go_type, result)
        if kind is ast.FuncType.PROPERTY and has_property:
            return self.set_property(func, view, name, args)
        hints = {
            ast.FuncType.CHAIN: [(has_property, "chaining method", "property", ".")],
            ast.FuncType.PROPERTY: [(has_chain, "property method", "chaining method", "|")],
            ast.FuncType.DYNAMIC: [
                (has_property, "dynamic method", "property", "."),
                (has_chain, "dynamic method", "chaining method", "|"),
            ],
        }
        for found, what, other, op in hints[kind]:
            if found:
                raise _at(
                    func.pos,
                    f"no {what} {quoted} on {view.go_type}, but {other} does exist. "
                    f"Use '{op}' operator instead: 'node{op}{func.name}(..)'.",
                )
        raise _at(func.pos, f"no method or property {quoted} on {view.go_type}")

    def set_property(self, func: ast.Func, view: View, name: str, args: list[Value]) -> Value:
        info = go_type(view.go_type)
        assert info is not None
        if name in info.properties:
            sig = info.properties[name]
            check_call(sig, args)
            result = call_property(view, name, sig, args)
            return Value(result.go_type, result)
        if len(args) != 1:
            raise _at(func.pos, f"too many arguments to set property {name} on {view.go_type}")
        check_set(args[0], info.fields[name])
        set_field(view, name, args[0])
        return Value(view.go_type, view)
