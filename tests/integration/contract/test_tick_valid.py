"""Contract: real-world TICKscripts that must keep being accepted (issue 13).

The emulator validates TICKscript like kapacitord (``test_tick_invalid.py``); these
scripts guard against it rejecting good ones. They cover stream and batch tasks,
windows, groupBy, eval, alerts with many handlers, joins and unions, influxDBOut,
deadman, stats, autoscaling and vars of every type, plus layouts the parser must take
(comments, spaces around operators, a trailing comma in a call, capitalized method
names). Each is written as a task and as a template, against the emulator and a real
kapacitord.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.contract.helpers import DBRPS
from tests.integration.contract.test_tick_invalid import TEMPLATE

VALID_SCRIPTS = [
    pytest.param(
        """// CPU alert with several handlers
var warn = 80
var crit = 95
stream
    |from()
        .database('telegraf')
        .retentionPolicy('autogen')
        .measurement('cpu')
        .where(lambda: "cpu" == 'cpu-total')
        .groupBy('host')
    |eval(lambda: 100.0 - "usage_idle")
        .as('used')
    |alert()
        .id('{{ index .Tags "host" }}/cpu')
        .message('{{ .ID }} is {{ .Level }}: {{ index .Fields "used" | printf "%0.2f" }}%')
        .warn(lambda: "used" > warn)
        .crit(lambda: "used" > crit)
        .stateChangesOnly()
        .log('/tmp/cpu_alerts.log')
        .post('http://alerts.example.com/hook')
            .header('X-Source', 'kapacitor')
        .email('oncall@example.com')
""",
        id="cpu-alert-log-post-email",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('mem')
        .groupBy(*)
    |window()
        .period(5m)
        .every(1m)
        .align()
    |mean('used_percent')
        .as('mean_used')
    |influxDBOut()
        .database('telegraf')
        .retentionPolicy('autogen')
        .measurement('mem_5m')
        .tag('source', 'kapacitor')
        .precision('s')
""",
        id="window-mean-influxdb-out",
    ),
    pytest.param(
        """batch
    |query('''
        SELECT mean("usage_user") AS "usage_user"
        FROM "telegraf"."autogen"."cpu"
        WHERE "cpu" = 'cpu-total'
    ''')
        .period(10m)
        .every(5m)
        .groupBy(time(1m), 'host')
        .fill('null')
    |alert()
        .crit(lambda: "usage_user" > 90)
        .slack()
        .channel('#ops')
""",
        id="batch-query-groupby-time",
    ),
    pytest.param(
        """var errors = stream
    |from()
        .measurement('errors')
        .groupBy('service')
var requests = stream
    |from()
        .measurement('requests')
        .groupBy('service')
errors
    |join(requests)
        .as('errors', 'requests')
        .tolerance(1s)
        .fill(0.0)
    |eval(lambda: "errors.value" / "requests.value")
        .as('rate')
    |alert()
        .warn(lambda: "rate" > 0.05)
        .pagerDuty2()
""",
        id="join-two-streams",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('heartbeat')
        .groupBy('host')
    |deadman(1.0, 5m)
        .message('{{ .ID }} stopped sending data')
        .log('/tmp/deadman.log')
""",
        id="deadman",
    ),
    pytest.param(
        """var data = stream
    |from()
        .measurement('requests')
data
    |deadman(100.0, 10s, lambda: hour("time") >= 8 AND hour("time") <= 17)
""",
        id="deadman-with-time-of-day",
    ),
    pytest.param(
        """var data = stream
    |from()
        .measurement('cpu')
data
    |stats(1m)
        .align()
    |derivative('emitted')
        .unit(1m)
        .nonNegative()
    |alert()
        .crit(lambda: "emitted" <= 0.0)
        .noRecoveries()
""",
        id="stats-of-a-node",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('disk')
    |stateDuration(lambda: "used_percent" > 90)
        .unit(1m)
    |stateCount(lambda: "used_percent" > 90)
    |alert()
        .crit(lambda: "state_duration" > 5 AND "state_count" > 10)
        .topic('disk')
""",
        id="state-duration-and-count",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('net')
        .where(lambda: "interface" =~ /^eth[0-9]+$/ AND "host" !~ /test/)
    |derivative('bytes_recv')
        .unit(1s)
        .nonNegative()
        .as('rate')
    |httpOut('net_rate')
""",
        id="where-regex-and-derivative",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('requests')
    |window()
        .period(1m)
        .every(1m)
    |top(5, 'latency', 'path')
    |percentile('latency', 95.0)
    |log()
        .level('INFO')
""",
        id="top-percentile-sum",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('temp')
    |default()
        .field('value', 0.0)
        .tag('room', 'unknown')
    |delete()
        .field('debug')
    |shift(5m)
    |changeDetect('value')
    |sample(10s)
    |log()
""",
        id="default-delete-shift",
    ),
    pytest.param(
        """var a = stream|from().measurement('a')
var b = stream|from().measurement('b')
a
    |union(b)
        .rename('ab')
    |combine(lambda: "kind" == 'x', lambda: "kind" == 'y')
        .as('x', 'y')
        .delimiter('_')
        .tolerance(1s)
        .max(2)
    |log()
""",
        id="union-and-combine",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('requests')
        .groupBy('deployment')
    |k8sAutoscale()
        .resourceNameTag('deployment')
        .min(2)
        .max(10)
        .replicas(lambda: int(ceil("value" / 100.0)))
        .increaseCooldown(1m)
        .decreaseCooldown(5m)
""",
        id="k8s-autoscale",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('cpu')
    |alert()
        .info(lambda: TRUE)
        .details('details')
        .flapping(0.25, 0.5)
        .history(21)
        .inhibit('cpu', 'host')
        .category('cpu')
        .tcp('localhost:9999')
        .exec('/bin/echo', 'alert')
        .opsGenie2()
        .victorOps()
            .routingKey('team')
        .telegram()
            .chatId('123')
        .mqtt('alerts')
            .qos(1)
        .kafka()
            .kafkaTopic('alerts')
        .snmpTrap('1.3.6.1.4.1.1')
            .data('1.3.6.1.4.1.1.2', 's', '{{ .Message }}')
""",
        id="alert-handlers-many",
    ),
    pytest.param(
        """batch
    |query('SELECT max("value") FROM "telegraf"."autogen"."load"')
        .period(1h)
        .every(10m)
        .groupBy(time(1m))
    |holtWinters('max', 10, 0, 1m)
    |log()
""",
        id="elapsed-and-holt-winters",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('sensors')
    |barrier()
        .idle(30s)
        .delete(TRUE)
    |window()
        .period(1m)
        .every(1m)
    |flatten()
        .on('sensor')
    |trickle()
    |kapacitorLoopback()
        .database('derived')
        .retentionPolicy('autogen')
        .measurement('flat')
""",
        id="flatten-barrier-trickle",
    ),
    pytest.param(
        """dbrp "telegraf"."autogen"

stream
    |from()
        .measurement('cpu')
    |httpPost('http://collector.example.com/cpu')
        .header('Authorization', 'Bearer x')
        .captureResponse()
        .timeout(5s)
""",
        id="dbrp-statement",
    ),
    pytest.param(
        """var db = 'telegraf'
var period = 5m
var threshold = 10
var ratio = 0.5
var enabled = TRUE
var hosts = /^web-/
var filter = lambda: "host" =~ hosts
var groups = ['host', 'region']
var everything = *
stream
    |from()
        .database(db)
        .measurement('cpu')
        .where(filter)
        .groupBy(groups)
    |window()
        .period(period)
        .every(period)
    |count('usage_idle')
    |alert()
        .crit(lambda: "count" > threshold AND enabled)
        .warn(lambda: "count" > threshold * ratio)
""",
        id="vars-of-every-kind",
    ),
    pytest.param(
        """// leading comment
stream // the source
    | from ( )
        . measurement ( 'cpu' ) // trailing
    |log()   // end
""",
        id="comments-and-odd-layout",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('cpu')
    |window()
        .period(10s,)
        .every(10s)
    |mean('usage_idle')
    |log()
""",
        id="trailing-comma-in-call",
    ),
    pytest.param(
        """stream
    |From()
        .Measurement('cpu')
    |Log()
""",
        id="capitalized-method-names",
    ),
    pytest.param(
        """stream
    |from()
        .measurement('cpu')
    |eval(lambda: "x" * -1, lambda: 010)
        .as('neg', 'eight')
    |log()
""",
        id="octal-and-negative-numbers",
    ),
]


def _dbrps(script: str) -> list[dict[str, str]]:
    return [] if script.startswith("dbrp ") else DBRPS


@pytest.mark.parametrize("script", VALID_SCRIPTS)
def test_valid_script_is_accepted_as_task(api: httpx.Client, uid: str, script: str) -> None:
    body = {"id": uid, "script": script, "dbrps": _dbrps(script)}
    resp = api.post("/kapacitor/v1/tasks", json=body)
    assert resp.status_code == 200, resp.text
    raw = api.get(f"/kapacitor/v1/tasks/{uid}", params={"script-format": "raw"}).json()
    assert raw["script"] == script
    assert raw["type"] == ("batch" if script.lstrip().startswith("batch") else "stream")


@pytest.mark.parametrize("script", VALID_SCRIPTS)
def test_valid_script_is_accepted_as_template(api: httpx.Client, uid: str, script: str) -> None:
    resp = api.post("/kapacitor/v1/templates", json={"id": uid, "script": script})
    assert resp.status_code == 200, resp.text


def test_valid_script_update_is_accepted(api: httpx.Client, uid: str) -> None:
    first, second = VALID_SCRIPTS[0].values[0], VALID_SCRIPTS[1].values[0]
    body = {"id": uid, "script": first, "dbrps": DBRPS}
    assert api.post("/kapacitor/v1/tasks", json=body).status_code == 200
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"script": second})
    assert resp.status_code == 200, resp.text


def test_task_from_template_with_vars_is_accepted(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/templates", json={"id": f"tpl-{uid}", "script": TEMPLATE})
    assert resp.status_code == 200, resp.text
    assert resp.json()["vars"]["measurement"] == {
        "type": "string",
        "value": None,
        "description": "Which measurement to watch",
    }
    task_vars = {
        "measurement": {"type": "string", "value": "cpu"},
        "crit": {"type": "int", "value": 90},
        "period": {"type": "duration", "value": "1m"},
        "where_filter": {"type": "lambda", "value": "\"cpu\" == 'cpu-total'"},
        "groups": {
            "type": "list",
            "value": [{"type": "string", "value": "host"}, {"type": "string", "value": "dc"}],
        },
    }
    body = {"id": uid, "template-id": f"tpl-{uid}", "dbrps": DBRPS, "vars": task_vars}
    resp = api.post("/kapacitor/v1/tasks", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["vars"]["period"]["value"] == 60_000_000_000
