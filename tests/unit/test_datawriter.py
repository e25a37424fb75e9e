"""The playground's data writer: its line protocol, the shape of its data (spikes cross
the examples' thresholds exactly while they last) and its thread (errors never stop it)."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import httpx
import pytest

from kapacitor_emulator.lineproto import parse_points
from kapacitor_testkit.datawriter import NS, DataWriter, Shape, sample, spiking
from kapacitor_testkit.lineprotocol import Point, render_lines, render_point
from kapacitor_testkit.processes import wait_until

T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z


def test_point_rendering_escapes_like_line_protocol() -> None:
    point = Point(
        "cpu load,x",
        {"a b": 1.5, "n=1": 3, "ok": True, "off": False, "s": 'say "hi" \\ bye'},
        123,
        {"z": "last", "host": "a,b=c d"},
    )
    assert render_point(point) == (
        "cpu\\ load\\,x,host=a\\,b\\=c\\ d,z=last "
        'a\\ b=1.5,n\\=1=3i,ok=true,off=false,s="say \\"hi\\" \\\\ bye" 123'
    )


@pytest.mark.parametrize(
    ("point", "why"),
    [
        (Point("m", {}, 1), "has no fields"),
        (Point("m", {"v": 1.0}, 1, {"host": ""}), "is empty"),
        (Point("m", {"v": float("nan")}, 1), "no float"),
        (Point("m", {"v": float("inf")}, 1), "no float"),
    ],
)
def test_points_line_protocol_cannot_carry_are_refused(point: Point, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        render_point(point)


def test_a_batch_parses_as_influxdb_parses_it() -> None:
    points = sample(T0, random.Random(1))
    body = render_lines(points)
    assert body.endswith("\n")
    parsed = parse_points(body, now_ns=0, precision="n")
    assert len(parsed) == len(points) == 2 * (3 + 1 + 2)  # per host: 3 cpu, 1 mem, 2 disks
    assert {p.measurement for p in parsed} == {"cpu", "mem", "disk"}
    assert all(p.time_ns == T0 for p in parsed)
    assert parsed[0].key == "cpu,cpu=cpu-total,host=web-1"


def test_same_seed_same_data() -> None:
    first = render_lines(sample(T0, random.Random(7)))
    assert first == render_lines(sample(T0, random.Random(7)))
    assert first != render_lines(sample(T0, random.Random(8)))


def num(point: Point, name: str) -> float:
    value = point.fields[name]
    assert not isinstance(value, bool | str), (name, value)
    return float(value)


def test_values_are_realistic_and_spikes_cross_the_examples_thresholds() -> None:
    """Over two hours of 5 s writes: CPU idle is below 10 % (examples/01) and the first
    disk above 95 % (examples/03) exactly while the host spikes; never otherwise."""
    shape = Shape()
    rng = random.Random(3)
    spikes = 0
    for step in range(0, 7200, 5):
        t_ns = T0 + step * NS
        for point in sample(t_ns, rng, shape):
            spike = spiking(t_ns / NS, point.tags["host"], shape)
            if point.measurement == "cpu":
                parts = [num(point, f"usage_{f}") for f in ("idle", "user", "system", "iowait")]
                assert all(0 <= v <= 100 for v in parts)
                assert sum(parts) == pytest.approx(100, abs=0.05)
                assert (num(point, "usage_idle") < 10) == spike, (step, point)
            elif point.measurement == "disk":
                over = num(point, "used_percent") > 95
                assert over == (spike and point.tags["path"] == "/"), (step, point)
                assert num(point, "used") + num(point, "free") == num(point, "total")
            else:
                assert 0 < num(point, "used_percent") < 100
                assert num(point, "used") + num(point, "available") == num(point, "total")
        spikes += any(spiking(t_ns / NS, h, shape) for h in shape.hosts)
    # 20 s of every 180 s per host, at different phases: about 2 x 11 % of the writes.
    assert 0.15 < spikes / (7200 / 5) < 0.25


def test_each_host_spikes_at_its_own_time() -> None:
    shape = Shape()
    starts = {
        host: next(s for s in range(int(shape.spike_period)) if spiking(T0 / NS + s, host, shape))
        for host in shape.hosts
    }
    assert len(set(starts.values())) == len(shape.hosts), starts
    for host in shape.hosts:
        t = T0 / NS + starts[host]
        assert spiking(t + shape.spike_seconds - 1, host, shape)
        assert not spiking(t + shape.spike_seconds + 1, host, shape)
        assert spiking(t + shape.spike_period, host, shape)


def test_the_thread_writes_to_telegraf_autogen_and_outlives_errors() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(500, text="restarting")
        if len(requests) == 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    writer = DataWriter(
        "http://kapacitor:9092/",
        interval=0.01,
        seed=1,
        transport=httpx.MockTransport(handler),
    )
    with writer:
        wait_until(lambda: writer.batches >= 2, timeout=10.0, interval=0.01)
    assert writer.batches >= 2, (writer.errors, writer.last_error)
    assert writer.errors == 2
    assert "refused" in (writer.last_error or "")
    first = requests[0]
    assert first.url.path == "/kapacitor/v1/write"
    assert parse_qs(first.url.query.decode()) == {
        "db": ["telegraf"],
        "rp": ["autogen"],
        "precision": ["ns"],
    }
    per_batch = len(parse_points(first.content.decode(), now_ns=0, precision="n"))
    assert writer.written["cpu"] == writer.batches * 6
    assert sum(writer.written.values()) == writer.batches * per_batch
