"""The emulator's script checks, without a server: lexer, parser, Go regexp errors, the
generated node table, Flux syntax errors (issue 13).

The contract tests check the same behaviour against a real kapacitord; these pin the
building blocks so a regression points at a module, not at an HTTP answer.
"""

from __future__ import annotations

import pytest

from kapacitor_emulator import tick_validate
from kapacitor_emulator.flux_syntax import FluxSyntaxError
from kapacitor_emulator.flux_syntax import check as check_flux
from kapacitor_emulator.go_regexp import regexp_error
from kapacitor_emulator.state import Var
from kapacitor_emulator.tick_nodes import capitalize, chain_signature, go_type
from kapacitor_emulator.tick_parse import TickParseError, parse, parse_lambda
from kapacitor_emulator.tick_scan import lex
from kapacitor_emulator.tick_tokens import T


def kinds(script: str) -> list[tuple[T, str]]:
    return [(tok.typ, tok.val) for tok in lex(script)]


def test_lexer_durations_numbers_and_lambda_keyword() -> None:
    assert kinds("10ms 1.5s lambda: lambda") == [
        (T.DURATION, "10ms"),
        (T.NUMBER, "1.5"),
        (T.IDENT, "s"),
        (T.LAMBDA, "lambda:"),
        (T.IDENT, "lambda"),
        (T.EOF, ""),
    ]


def test_lexer_operators_only_after_an_operand() -> None:
    assert kinds("a / b /c/")[1] == (T.DIV, "/")
    assert kinds("(/c/)")[1] == (T.REGEX, "/c/")
    assert kinds("x = 1")[1] == (T.ASGN, "=")
    assert kinds("= 1")[0] == (T.ERROR, "unknown state, last char: '='")


def test_lexer_error_ends_the_stream() -> None:
    tokens = lex("a 'b")
    assert tokens[-1].typ is T.ERROR
    assert tokens[-1].val == "unterminated string"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("stream|", 'parser: unexpected EOF line 1 char 8 in "stream|". expected: "identifier"'),
        ("a\n\n\nvar b = stream.window(\nb.period(10s)", None),
        ("x(09)", 'parser: illegal number syntax: "09"'),
        ("x(99999999999999999999s)", "parser: invalid duration"),
        ("x(/(a/)", "parser: error parsing regexp: missing closing ): `(a`"),
    ],
)
def test_parser_errors(script: str, message: str | None) -> None:
    with pytest.raises(TickParseError) as err:
        parse(script)
    if message is not None:
        assert str(err.value) == message


def test_parser_octal_and_lambda() -> None:
    program = parse("x(010)")
    assert program.statements
    assert parse_lambda('"a" > 1 AND "b" < 2').expr is not None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(abc", "missing closing ): `(abc`"),
        ("abc)", "unexpected ): `abc)`"),
        ("[a-z", "missing closing ]: `[a-z`"),
        ("*a", "missing argument to repetition operator: `*`"),
        ("a+*?", "invalid nested repetition operator: `+*?`"),
        ("\\1", "invalid escape sequence: `\\1`"),
        ("(?=x)", "invalid or unsupported Perl syntax: `(?=`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("a{2,1}", "invalid repeat count: `{2,1}`"),
        ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
    ],
)
def test_go_regexp_errors(pattern: str, message: str) -> None:
    assert regexp_error(pattern) == f"error parsing regexp: {message}"


@pytest.mark.parametrize("pattern", ["^cpu[0-9]+$", "(?i)a|b", "[]a]", "\\pL+", "^*", "a{,5}"])
def test_go_regexp_accepts(pattern: str) -> None:
    assert regexp_error(pattern) == ""


def test_node_table_is_consistent() -> None:
    alert = go_type("*pipeline.AlertNode")
    assert alert is not None
    assert alert.fields["Crit"] == "*ast.LambdaNode"
    assert alert.properties["Slack"].results == ("*pipeline.SlackHandler",)
    assert "Window" in alert.chain
    window = chain_signature("Window")
    assert window.provided("stream") == "batch"
    assert window.provided("batch") == "panic: cannot Window batch edge"
    for name in alert.chain:
        for result in chain_signature(name).results:
            assert not result.startswith("*pipeline.") or go_type(result) is not None, name
    assert capitalize("measurement") == "Measurement"


def test_compile_task_and_template() -> None:
    script = "var f string\nstream|from().measurement(f)|log()"
    tick_validate.compile_template(script, "stream")
    tick_validate.compile_task(script, "stream", {"f": Var("string", "cpu")})
    with pytest.raises(tick_validate.EvalError, match='missing value for var "f"'):
        tick_validate.compile_task(script, "stream", {})
    assert tick_validate.task_type(parse("var x = stream\nbatch|query('q')")) == "invalid"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ('from(bucket: "b"', "loc 1:1-1:17: expected RPAREN, got EOF"),
        ("x = 1 )", "loc 1:7-1:8: invalid statement @1:7-1:8: )"),
        ("x = 1 + 2 *", "loc 1:9-1:12: missing right hand side of expression"),
        ("x |> yield", "loc 1:6-1:11: pipe destination must be a function call"),
        ('x = "a', "loc 1:5-1:7: got unexpected token in string expression @1:7-1:7: EOF"),
    ],
)
def test_flux_syntax_errors(script: str, message: str) -> None:
    with pytest.raises(FluxSyntaxError) as err:
        check_flux(script)
    assert str(err.value) == message


def test_flux_syntax_accepts_a_task() -> None:
    check_flux(
        'import "array"\noption task = {name: "t", every: 1h}\n'
        'array.from(rows: [{v: "${x}"}]) |> filter(fn: (r) => r.v =~ /[(]/) |> yield()\n'
    )
