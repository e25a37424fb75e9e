"""Contract: TICKscript kapacitord v1.8.3 rejects when a task or template is written.

Issue 13 item 4: the emulator used to accept scripts the real server rejects. Every case
here runs against the emulator and a real kapacitord and asserts the exact status and
error body. Sources of the cases: the issue's reports; Kapacitor's own
``tick/ast/parser_test.go`` (``TestParseErrors``) and ``server/server_test.go``
(a missing var); and the common mistakes of each kind the emulator checks (lexer,
parser, literals, unknown nodes/methods/properties, argument types, node validation,
vars). The expected texts were taken from kapacitord v1.8.3.

Where Kapacitor's answer depends on Go map order (the list of names in scope of an
undefined-name error), the test compares the names as a set.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import DBRPS, assert_native_error, create_task

CPU = "stream\n    |from()\n        .measurement('cpu')\n"
BATCH = (
    'batch\n    |query(\'SELECT mean(usage_idle) FROM "telegraf"."autogen".cpu\')\n'
    "        .period(5m)\n        .every(5m)\n"
)
EXPRESSION = '"number","string","duration","identifier","TRUE","FALSE","==","(","-","!"'
"""What Kapacitor's parser expects where an expression should start."""


def parser(detail: str, expected: str = EXPRESSION) -> str:
    """A parser error: ``unexpected <token> line L char C in "<context>"``."""
    return f"invalid TICKscript: parser: unexpected {detail}. expected: {expected}"


def tick(detail: str) -> str:
    """Any other error of the TICKscript check."""
    return f"invalid TICKscript: {detail}"


def case(case_id: str, script: str, message: str) -> Any:
    return pytest.param(script, message, id=case_id)


INVALID_TASK_SCRIPTS = [
    case(
        "issue13-lambda-missing-operand",
        CPU + '    |alert()\n        .crit(lambda: "usage_idle" < )\n',
        parser(') line 5 char 38 in "e_idle" < )"'),
    ),
    case(
        "issue13-unknown-alert-method",
        CPU + "    |alert()\n        .foo()\n",
        tick('line 5 char 10: no method or property "foo" on *pipeline.AlertNode'),
    ),
    case(
        "issue13-bad-duration-unit",
        CPU + "    |window()\n        .period(10x)\n",
        parser('identifier line 5 char 19 in ".period(10x)"', '")"'),
    ),
    case(
        "kapacitor-parser-test-eof-after-assign",
        "a\n\n\nvar b = ",
        parser('EOF line 4 char 9 in "var b = "'),
    ),
    case(
        "kapacitor-parser-test-var-without-name",
        "a\n\n\nvar b = stream.window()var period)\n\nvar x = 1",
        parser(') line 4 char 34 in "var period)"', '"identifier"'),
    ),
    case(
        "kapacitor-parser-test-unclosed-call",
        "a\n\n\nvar b = stream.window(\nb.period(10s)",
        parser('EOF line 5 char 14 in "eriod(10s)"', '")"'),
    ),
    case(
        "unterminated-string",
        CPU + "    |alert().message('oops)\n",
        parser('unterminated string line 4 char 22 in ").message(\'oops)"'),
    ),
    case(
        "unterminated-reference",
        CPU + "    |where(lambda: \"host == 'a')\n",
        parser('unterminated field reference line 4 char 20 in "e(lambda: "host == \'"'),
    ),
    case(
        "unterminated-regex",
        CPU + '    |where(lambda: "host" =~ /abc)\n',
        parser('unterminated regex line 4 char 30 in ""host" =~ /abc)"'),
    ),
    case(
        "unknown-character",
        CPU + "    $\n",
        parser("unknown state, last char: '$' line 4 char 5 in \"    $\""),
    ),
    case(
        "multiple-decimals",
        CPU + "    |eval(lambda: 1.2.3)\n",
        parser('multiple decimals in number line 4 char 19 in "l(lambda: 1.2.3)"'),
    ),
    case(
        "identifier-starting-with-underscore",
        CPU + "    |where(lambda: _x > 1)\n",
        parser("unknown state, last char: '_' line 4 char 20 in \"e(lambda: _x > 1)\""),
    ),
    case(
        "lambda-keyword-needs-colon",
        'stream|from()|where(lambda : "a">1)|log()',
        parser('unknown state, last char: \':\' line 1 char 28 in "re(lambda : "a">1)|l"', '")"'),
    ),
    case("assignment-outside-var", "stream|from()|log()\n=", parser('= line 2 char 1 in "="')),
    case(
        "slash-where-a-statement-starts",
        "stream|from()|log()\n/ oops",
        parser('/ line 2 char 1 in "/ oops"'),
    ),
    case("unclosed-call", "stream|from(", parser('EOF line 1 char 13 in "ream|from("')),
    case(
        "extra-closing-paren",
        "stream|from().measurement('cpu'))",
        parser(") line 1 char 33 in \"ent('cpu'))\""),
    ),
    case("pipe-without-node", "stream|", parser('EOF line 1 char 8 in "stream|"', '"identifier"')),
    case(
        "var-without-value-or-type", "var x", parser('EOF line 1 char 6 in "var x"', '"identifier"')
    ),
    case(
        "var-name-is-a-number",
        "var 5 = stream",
        parser('number line 1 char 5 in "var 5 = stream"', '"identifier"'),
    ),
    case(
        "double-dot",
        "stream|from()..measurement('cpu')",
        parser('. line 1 char 15 in "am|from()..measureme"', '"identifier"'),
    ),
    case(
        "list-of-numbers",
        "stream|from()|groupBy([5])|log()",
        parser('number line 1 char 24 in "|groupBy([5])|log()"', '"identifier","string","*"'),
    ),
    case(
        "list-items-without-comma",
        "stream|from()|groupBy(['a' 'b'])|log()",
        parser("string line 1 char 28 in \"upBy(['a' 'b'])|log(\"", '"]"'),
    ),
    case(
        "dbrp-without-retention-policy",
        'dbrp "telegraf"\nstream|from()|log()',
        parser('identifier line 2 char 1 in "stream|fro"', '"."'),
    ),
    case(
        "empty-lambda",
        CPU + "    |alert().crit(lambda: )\n",
        parser(') line 4 char 27 in "t(lambda: )"'),
    ),
    case(
        "lambda-inside-lambda",
        "stream|from()|where(lambda: lambda: 1)",
        parser('lambda line 1 char 29 in "e(lambda: lambda: 1)"'),
    ),
    case(
        "lambda-and-without-right-side",
        'stream|from()|where(lambda: "a" AND )',
        parser(') line 1 char 37 in ": "a" AND )"'),
    ),
    case(
        "duration-overflow",
        CPU + "    |window().period(99999999999999999999s)\n",
        tick("parser: invalid duration"),
    ),
    case("octal-with-9", CPU + "    |sample(09)\n", tick('parser: illegal number syntax: "09"')),
    case(
        "integer-overflow",
        CPU + "    |sample(99999999999999999999)\n",
        tick('parser: illegal number syntax: "99999999999999999999"'),
    ),
    case(
        "fractional-duration",
        CPU + "    |window().period(1.5s)\n",
        parser('identifier line 4 char 25 in "period(1.5s)"', '")"'),
    ),
    case(
        "nanoseconds-are-not-a-unit",
        CPU + "    |window().period(10ns)\n",
        parser('identifier line 4 char 24 in ".period(10ns)"', '")"'),
    ),
    case(
        "regex-missing-paren",
        CPU + '    |where(lambda: "host" =~ /(abc/)\n',
        tick("parser: error parsing regexp: missing closing ): `(abc`"),
    ),
    case(
        "regex-lookahead",
        CPU + '    |where(lambda: "host" =~ /(?=x)/)\n',
        tick("parser: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
    ),
    case(
        "regex-nested-repetition",
        CPU + '    |where(lambda: "host" =~ /a**/)\n',
        tick("parser: error parsing regexp: invalid nested repetition operator: `**`"),
    ),
    case(
        "regex-bad-escape",
        CPU + '    |where(lambda: "host" =~ /\\q/)\n',
        tick("parser: error parsing regexp: invalid escape sequence: `\\q`"),
    ),
    case(
        "regex-reversed-range",
        CPU + '    |where(lambda: "host" =~ /[z-a]/)\n',
        tick("parser: error parsing regexp: invalid character class range: `z-a`"),
    ),
    case(
        "unknown-chaining-method",
        CPU + "    |foo()\n",
        tick('line 4 char 6: no method or property "foo" on *pipeline.FromNode'),
    ),
    case(
        "typo-in-handler",
        CPU + '    |alert()\n        .crit(lambda: "usage_idle" < 10)\n        .slak()\n',
        tick('line 6 char 10: no method or property "slak" on *pipeline.AlertNode'),
    ),
    case(
        "typo-in-handler-property",
        CPU
        + (
            "    |alert()\n        .crit(lambda: TRUE)\n        .slack()\n        "
            ".chanel('#alerts')\n"
        ),
        tick('line 7 char 10: no method or property "chanel" on *pipeline.SlackHandler'),
    ),
    case(
        "property-used-as-chain",
        CPU + "    |period(10s)\n",
        tick('line 4 char 6: no method or property "period" on *pipeline.FromNode'),
    ),
    case(
        "chain-used-as-property",
        CPU + "    .window()\n",
        tick(
            'line 4 char 6: no property method "window" on *pipeline.FromNode, but chaining '
            "method does exist. Use '|' operator instead: 'node|window(..)'."
        ),
    ),
    case(
        "chain-used-as-dynamic",
        CPU + "    @window()\n",
        tick(
            'line 4 char 6: no dynamic method "window" on *pipeline.FromNode, but chaining '
            "method does exist. Use '|' operator instead: 'node|window(..)'."
        ),
    ),
    case(
        "unknown-dynamic-method",
        CPU + "    @foo()\n",
        tick('line 4 char 6: no method or property "foo" on *pipeline.FromNode'),
    ),
    case(
        "measurement-after-from",
        CPU + "    |measurement('cpu')\n",
        tick(
            'line 4 char 6: no chaining method "measurement" on *pipeline.FromNode, but '
            "property does exist. Use '.' operator instead: 'node.measurement(..)'."
        ),
    ),
    case(
        "property-on-alert-data",
        CPU + "    |alert().crit(lambda: TRUE).all().foo()\n",
        tick('line 4 char 39: no method or property "foo" on *pipeline.AlertNodeData'),
    ),
    case(
        "unknown-global-function",
        CPU + "    |log()\nfoo()\n",
        tick('line 5 char 1: no global function "foo" defined'),
    ),
    case(
        "window-on-batch-edge",
        "stream|from()|window().period(1m).every(1m)|window()",
        tick(
            'line 1 char 45: error calling func "window" on obj *pipeline.WindowNode: cannot '
            "Window batch edge"
        ),
    ),
    case(
        "trickle-on-stream-edge",
        CPU + "    |trickle()\n",
        tick(
            'line 4 char 6: error calling func "trickle" on obj *pipeline.FromNode: cannot '
            "Trickle stream edge"
        ),
    ),
    case(
        "method-on-non-pointer",
        "stream|from()|desc()|log()",
        tick("line 1 char 22: cannot get properties of non pointer value"),
    ),
    case(
        "double-quoted-measurement",
        'stream|from().measurement("cpu")|log()',
        tick(
            "line 1 char 15: cannot assign *ast.ReferenceNode to type string, did you use "
            "double quotes instead of single quotes?"
        ),
    ),
    case(
        "number-as-measurement",
        "stream|from().measurement(5)|log()",
        tick(
            'line 1 char 15: error calling func "measurement" on obj *pipeline.FromNode: '
            "reflect.Set: value of type int64 is not assignable to type string"
        ),
    ),
    case(
        "string-as-period",
        CPU + "    |window().period('10s')\n",
        tick(
            'line 4 char 15: error calling func "period" on obj *pipeline.WindowNode: '
            "reflect.Set: value of type string is not assignable to type time.Duration"
        ),
    ),
    case(
        "float-as-period",
        "stream|from()|window().period(.5)",
        tick(
            'line 1 char 24: error calling func "period" on obj *pipeline.WindowNode: '
            "reflect.Set: value of type float64 is not assignable to type time.Duration"
        ),
    ),
    case(
        "two-values-for-a-field",
        CPU + "    |window().period(10s, 5s)\n",
        tick("line 4 char 15: too many arguments to set property Period on *pipeline.WindowNode"),
    ),
    case(
        "no-value-for-a-field",
        CPU + "    |window().period()\n",
        tick("line 4 char 15: too many arguments to set property Period on *pipeline.WindowNode"),
    ),
    case(
        "string-as-crit",
        CPU + "    |alert().crit('x > 5')\n",
        tick(
            'line 4 char 14: error calling func "crit" on obj *pipeline.AlertNode: '
            "reflect.Set: value of type string is not assignable to type *ast.LambdaNode"
        ),
    ),
    case(
        "where-without-lambda",
        CPU + "    |where('x')\n",
        tick(
            'line 4 char 6: error calling func "where" on obj *pipeline.FromNode: reflect: '
            "Call using string as type *ast.LambdaNode"
        ),
    ),
    case(
        "where-with-two-lambdas",
        CPU + "    |where(lambda: TRUE, lambda: FALSE)\n",
        tick(
            'line 4 char 6: error calling func "where" on obj *pipeline.FromNode: reflect: '
            "Call with too many input arguments"
        ),
    ),
    case(
        "derivative-without-field",
        CPU + "    |derivative()\n",
        tick(
            'line 4 char 6: error calling func "derivative" on obj *pipeline.FromNode: '
            "reflect: Call with too few input arguments"
        ),
    ),
    case(
        "sample-with-string",
        CPU + "    |sample('x')\n",
        tick(
            'line 4 char 6: error calling func "sample" on obj *pipeline.FromNode: must pass '
            "int64 or duration to new sample node"
        ),
    ),
    case(
        "top-with-string-count",
        CPU + "    |top('x', 'y')\n",
        tick(
            'line 4 char 6: error calling func "top" on obj *pipeline.FromNode: reflect: Call '
            "using string as type int64"
        ),
    ),
    case(
        "email-with-number",
        CPU + "    |alert().crit(lambda: TRUE).email(5)\n",
        tick(
            'line 4 char 33: error calling func "email" on obj *pipeline.AlertNode: reflect: '
            "cannot use int64 as type string in Call"
        ),
    ),
    case(
        "flapping-with-one-value",
        "stream|from()|alert().crit(lambda: TRUE).flapping(0.25)",
        tick(
            'line 1 char 42: error calling func "flapping" on obj *pipeline.AlertNode: '
            "reflect: Call with too few input arguments"
        ),
    ),
    case(
        "join-with-string",
        "var a = stream|from()\na|join('x').as('a', 'b')|log()",
        tick(
            'line 2 char 3: error calling func "join" on obj *pipeline.FromNode: reflect: '
            "cannot use string as type pipeline.Node in Call"
        ),
    ),
    case(
        "time-with-string",
        BATCH + "    .groupBy(time('x'))\n",
        tick(
            'line 5 char 14: error calling func "time" on obj <nil>: reflect: Call using '
            "string as type time.Duration"
        ),
    ),
    case(
        "time-with-three-args",
        BATCH + "    .groupBy(time(1m, 2m, 3m))\n",
        tick("line 5 char 14: time() function expects 1 or 2 args, got 3"),
    ),
    case(
        "eval-without-as",
        CPU + '    |eval(lambda: "a" * 2)\n',
        tick(
            "must specify same number of expressions and .as() names: got 0 as names, and 1 "
            "expressions."
        ),
    ),
    case(
        "eval-as-count-mismatch",
        CPU + "    |eval(lambda: \"a\" * 2).as('x', 'y')\n",
        tick(
            "must specify same number of expressions and .as() names: got 2 as names, and 1 "
            "expressions."
        ),
    ),
    case(
        "eval-tag-not-in-as",
        CPU + "    |eval(lambda: \"a\" * 2).as('x').tags('y')\n",
        tick('invalid tag name "y", name is not present is .as() names'),
    ),
    case(
        "join-without-as",
        "var a = stream|from().measurement('a')\nvar b = "
        "stream|from().measurement('b')\na|join(b)|log()",
        tick("a call to join.as() is required to specify the output stream prefixes."),
    ),
    case(
        "join-as-count-mismatch",
        "var a = stream|from().measurement('a')\nvar b = "
        "stream|from().measurement('b')\na|join(b).as('a')|log()",
        tick("number of prefixes specified by join.as() must match the number of joined streams"),
    ),
    case(
        "join-same-prefix",
        "var a = stream|from().measurement('a')\nvar b = "
        "stream|from().measurement('b')\na|join(b).as('a', 'a')|log()",
        tick("cannot use the same prefix name see .as() property method"),
    ),
    case(
        "join-prefix-with-delimiter",
        "var a = stream|from().measurement('a')\nvar b = "
        "stream|from().measurement('b')\na|join(b).as('a.x', 'b')|log()",
        tick('cannot use name a.x as field prefix, it contains the delimiter "."\t'),
    ),
    case(
        "group-by-star-and-tag",
        CPU + "    |groupBy(*, 'host')\n",
        tick("cannot group by both '*' and named dimensions."),
    ),
    case(
        "exclude-without-star",
        CPU + "    |groupBy('host').exclude('x')\n",
        tick("exclude requires '*'"),
    ),
    case(
        "window-period-and-count",
        CPU + "    |window().period(10s).periodCount(5)\n",
        tick("cannot specify both period and periodCount"),
    ),
    case(
        "window-count-without-every",
        CPU + "    |window().periodCount(5)\n",
        tick("everyCount must be greater than zero"),
    ),
    case(
        "barrier-without-idle-or-period",
        CPU + "    |barrier()\n",
        tick("idle must be greater than zero"),
    ),
    case(
        "loopback-without-database",
        CPU + "    |kapacitorLoopback()\n",
        tick("must specify a database"),
    ),
    case("http-post-without-url", CPU + "    |httpPost()\n", tick("must provide url or endpoint")),
    case(
        "http-post-authenticate-header",
        CPU + "    |httpPost('http://a').header('Authenticate', 'x')\n",
        tick("cannot set 'authenticate' header"),
    ),
    case(
        "combine-without-as",
        CPU + "    |combine(lambda: TRUE, lambda: FALSE)\n",
        tick("a call to combine.as() is required to specify the output stream prefixes."),
    ),
    case(
        "default-field-lambda",
        CPU + "    |default().field('x', lambda: TRUE)\n",
        tick(
            'unsupported type *ast.LambdaNode for field "x", field default values must be '
            "float,int,string or bool"
        ),
    ),
    case(
        "k8s-autoscale-without-resource",
        CPU + "    |k8sAutoscale()\n",
        tick("must specify exactly one of ResourceName or ResourceNameTag"),
    ),
    case(
        "k8s-autoscale-bad-kind",
        "stream|from()|k8sAutoscale().resourceName('a').replicas(lambda: 1).kind('pods')",
        tick(
            "invalid Kind, must be 'deployments', 'replicasets' or 'replicationcontrollers', "
            "got pods"
        ),
    ),
    case(
        "snmp-trap-without-oid",
        CPU + "    |alert().snmpTrap('')\n",
        tick('invalid SNMP trap "": you must supply a trap Oid'),
    ),
    case(
        "alert-post-authenticate-header",
        CPU + "    |alert().post('http://x').header('authenticate', 'x')\n",
        tick("invalid post: cannot set 'authenticate' header"),
    ),
    case(
        "var-redefined",
        "var x = 5\nvar x = 6\n" + CPU + "    |log()",
        tick("attempted to redefine x, vars are immutable"),
    ),
    case(
        "var-shadows-stream",
        "var stream = 5\n" + CPU,
        tick("attempted to redefine stream, vars are immutable"),
    ),
    case("unknown-var-type", "var x foo\n" + CPU, tick('invalid var type "foo"')),
    case(
        "declared-var-without-value",
        "var period duration\n" + CPU + "    |window().period(period)\n",
        tick('missing value for var "period".'),
    ),
    case(
        "negated-string",
        "var x = 'a'\n" + CPU + "    |window().period(-x)\n",
        tick("line 5 char 22: invalid arugument to '-' a"),
    ),
    case(
        "node-in-lambda",
        "var data = stream|from()\n" + CPU + "    |where(lambda: data > 1)\n",
        tick("unsupported literal type *pipeline.FromNode"),
    ),
    case(
        "reference-outside-lambda",
        CPU + '    |alert().crit("x" > 5)\n',
        tick('name "x" is undefined. Names in scope: '),
    ),
    case(
        "chain-on-a-number",
        "var x = 5\nx|log()\n" + CPU,
        tick("line 2 char 3: cannot get properties of non pointer value"),
    ),
    case("task-does-nothing-from-var", "var x = stream", tick("task does nothing")),
]

TEMPLATE = (
    "// Which measurement to watch\nvar measurement string\nvar crit = 80\nvar period = 10s\n"
    "var where_filter = lambda: TRUE\nvar groups = ['host']\n"
    "stream\n    |from()\n        .measurement(measurement)\n        .where(where_filter)\n"
    "        .groupBy(groups)\n    |window()\n        .period(period)\n        .every(period)\n"
    "    |mean('usage_idle')\n        .as('mean')\n"
    "    |alert()\n        .crit(lambda: \"mean\" > crit)\n        .log('/tmp/alerts.log')\n"
)
"""A template with vars of several types, one of them without a default."""


@pytest.mark.parametrize(("script", "message"), INVALID_TASK_SCRIPTS)
def test_invalid_task_script_is_rejected(
    api: httpx.Client, uid: str, script: str, message: str
) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert_native_error(resp, 400, message)
    assert api.get(f"/kapacitor/v1/tasks/{uid}").status_code == 404


def test_undefined_name_lists_the_names_in_scope(api: httpx.Client, uid: str) -> None:
    """Kapacitor lists the names in Go map order, so compare them as a set."""
    script = "var threshold = 5\n" + CPU + "    |window().period(period)\n"
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert resp.status_code == 400
    prefix = 'invalid TICKscript: name "period" is undefined. Names in scope: '
    body = json.loads(resp.text)
    assert body["error"] == body["message"]
    assert body["message"].startswith(prefix)
    assert set(body["message"].removeprefix(prefix).split(",")) == {"time", "stream", "threshold"}


@pytest.mark.parametrize(
    ("script", "message"),
    [
        case("template-parse-error", "stream|from(", parser('EOF line 1 char 13 in "ream|from("')),
        case(
            "template-unknown-method",
            "stream|from()|alert().foo()",
            tick('line 1 char 23: no method or property "foo" on *pipeline.AlertNode'),
        ),
        case("template-empty-script", "", "invalid task type: invalid"),
        case(
            "template-unknown-var-type",
            "var x foo\nstream|from()|log()",
            tick('invalid var type "foo"'),
        ),
        case(
            "template-int-var-as-measurement",
            "var x int\nstream|from().measurement(x)|log()",
            tick(
                'line 2 char 15: error calling func "measurement" on obj *pipeline.FromNode: '
                "reflect.Set: value of type int64 is not assignable to type string"
            ),
        ),
        case(
            "template-nil-lambda-for-replicas",
            "var x lambda\nstream|from()|k8sAutoscale().resourceName('a').replicas(x)",
            tick("must provide a replicas lambda expression"),
        ),
    ],
)
def test_invalid_template_is_rejected(
    api: httpx.Client, uid: str, script: str, message: str
) -> None:
    resp = api.post("/kapacitor/v1/templates", json={"id": uid, "script": script})
    assert_native_error(resp, 400, message)
    assert api.get(f"/kapacitor/v1/templates/{uid}").status_code == 404


@pytest.mark.parametrize(
    ("script", "task_vars", "message"),
    [
        pytest.param(
            "var x = 5\n" + CPU + "    |log()",
            {"x": {"type": "string", "value": "abc"}},
            tick("invalid type supplied for x, got string exp int"),
            id="string-for-int-var",
        ),
        pytest.param(
            "var x = 5\n" + CPU + "    |log()",
            {"x": {"type": "float", "value": 5}},
            tick("invalid type supplied for x, got float exp int"),
            id="float-for-int-var",
        ),
        pytest.param(
            "var x = TRUE\n" + CPU + "    |log()",
            {"x": {"type": "int", "value": 1}},
            tick("invalid type supplied for x, got int exp boolean"),
            id="int-for-bool-var",
        ),
        pytest.param(
            "var x = stream|from()\nx|log()",
            {"x": {"type": "string", "value": "abc"}},
            tick("invalid type supplied for x, got string exp invalid type"),
            id="var-for-a-node",
        ),
        pytest.param(
            CPU + "    |log()",
            {"x": {"type": "lambda", "value": '"a" >'}},
            tick(
                "invalid var x: invalid lambda expression: "
                + parser('EOF line 1 char 6 in ""a" >"').removeprefix("invalid TICKscript: ")
            ),
            id="lambda-var-parse-error",
        ),
        pytest.param(
            CPU + "    |log()",
            {"x": {"type": "regex", "value": "(abc"}},
            tick(
                "invalid var x: invalid regex pattern: error parsing regexp: missing closing "
                "): `(abc`"
            ),
            id="regex-var-error",
        ),
        pytest.param(
            "var f string\n" + CPU + "    |log()",
            {"f": {"type": "int", "value": 1}},
            tick("invalid type supplied for f, got int exp string"),
            id="int-for-declared-string",
        ),
    ],
)
def test_task_vars_are_checked(
    api: httpx.Client, uid: str, script: str, task_vars: dict[str, Any], message: str
) -> None:
    body = {"id": uid, "script": script, "dbrps": DBRPS, "vars": task_vars}
    assert_native_error(api.post("/kapacitor/v1/tasks", json=body), 400, message)


@pytest.mark.parametrize(
    ("task_vars", "message"),
    [
        pytest.param({}, tick('missing value for var "measurement".'), id="missing-var"),
        pytest.param(
            {"measurement": {"type": "int", "value": 5}},
            tick("invalid type supplied for measurement, got int exp string"),
            id="wrong-type",
        ),
        pytest.param(
            {
                "measurement": {"type": "string", "value": "cpu"},
                "crit": {"type": "float", "value": 5.5},
            },
            tick("invalid type supplied for crit, got float exp int"),
            id="wrong-type-for-default",
        ),
        pytest.param(
            {
                "measurement": {"type": "string", "value": "cpu"},
                "period": {"type": "int", "value": 60},
            },
            tick("invalid type supplied for period, got int exp duration"),
            id="int-for-duration",
        ),
        pytest.param(
            {
                "measurement": {"type": "string", "value": "cpu"},
                "where_filter": {"type": "lambda", "value": '"host" == '},
            },
            tick(
                "invalid var where_filter: invalid lambda expression: "
                + parser('EOF line 1 char 11 in ""host" == "').removeprefix("invalid TICKscript: ")
            ),
            id="bad-lambda",
        ),
        pytest.param(
            {"measurement": {"type": "string", "value": "cpu"}, "groups": {"type": "star"}},
            tick("invalid type supplied for groups, got star exp list"),
            id="star-for-list",
        ),
    ],
)
def test_task_from_template_vars_are_checked(
    api: httpx.Client, uid: str, task_vars: dict[str, Any], message: str
) -> None:
    resp = api.post("/kapacitor/v1/templates", json={"id": f"tpl-{uid}", "script": TEMPLATE})
    assert resp.status_code == 200, resp.text
    body = {"id": uid, "template-id": f"tpl-{uid}", "dbrps": DBRPS, "vars": task_vars}
    assert_native_error(api.post("/kapacitor/v1/tasks", json=body), 400, message)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        case(
            "patch-unknown-method",
            CPU + "    |alert()\n        .foo()\n",
            tick('line 5 char 10: no method or property "foo" on *pipeline.AlertNode'),
        ),
        case("patch-parse-error", "stream|from(", parser('EOF line 1 char 13 in "ream|from("')),
        case("patch-no-task-type", "var x = 5", "invalid task type: invalid"),
        case(
            "patch-missing-var",
            "var f string\nstream|from().measurement(f)|log()",
            tick('missing value for var "f".'),
        ),
        case(
            "patch-eval-without-as",
            CPU + '    |eval(lambda: "a" * 2)\n',
            tick(
                "must specify same number of expressions and .as() names: "
                "got 0 as names, and 1 expressions."
            ),
        ),
    ],
)
def test_patch_with_invalid_script_is_rejected_and_keeps_the_task(
    api: httpx.Client, uid: str, script: str, message: str
) -> None:
    original = CPU + "    |log()\n"
    create_task(api, uid, original)
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"script": script})
    assert_native_error(resp, 400, message)
    stored = api.get(f"/kapacitor/v1/tasks/{uid}", params={"script-format": "raw"}).json()
    assert stored["script"] == original


@pytest.mark.parametrize(
    ("script", "message"),
    [
        case("script-without-dbrp", "stream|from()|log()", "must specify dbrp"),
        case("no-task-type-either", "var x = 5", "must specify dbrp"),
        case("parse-error-first", "stream|from(", parser('EOF line 1 char 13 in "ream|from("')),
    ],
)
def test_patch_dropping_dbrp_statements_needs_dbrps(
    api: httpx.Client, uid: str, script: str, message: str
) -> None:
    """A task whose script named its dbrps must keep doing so, or get them in the body."""
    body = {"id": uid, "script": 'dbrp "telegraf"."autogen"\nstream|from()|log()'}
    assert api.post("/kapacitor/v1/tasks", json=body).status_code == 200
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"script": script})
    assert_native_error(resp, 400, message)
