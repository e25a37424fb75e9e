"""kapacitord's HTTP request log, read back: the lines it writes (copied from a v1.8.3 log)
become requests a test can count, and nothing else does."""

from __future__ import annotations

from pathlib import Path

from kapacitor_testkit.kapacitord_log import (
    HttpRequest,
    http_requests,
    parse_logfmt,
    read_http_requests,
)

LOG = """\
ts=2026-12-01T21:54:20.010Z lvl=info msg="listening on" service=http addr=127.0.0.1:49113
ts=2026-12-01T21:54:26.352Z lvl=info msg="http request" service=http host=127.0.0.1 username=- \
start=2026-12-01T21:54:26.348392023Z method=POST uri=/kapacitor/v1/api/v2/tasks protocol=HTTP/1.1 \
status=201 referer=- user-agent=curl/7.88.1 request-id=c6bdfe19-edd1-11f1-8002-d217cbb37b26 \
duration=4.046188ms
ts=2026-12-01T21:54:28.450Z lvl=info msg="executed flux query" service=flux-local-querier
ts=2026-12-01T21:54:30.573Z lvl=info msg="http request" service=http host=127.0.0.1 username=- \
start=2026-12-01T21:54:30.573626551Z method=GET \
uri="/kapacitor/v1/tasks/a b?script-format=raw" protocol=HTTP/1.1 status=404 referer=- \
user-agent=kapacitor-operator request-id=c942b650-edd1-11f1-8006-d217cbb37b26 duration=275.932µs
"""


def test_only_http_request_lines_count() -> None:
    assert http_requests(LOG) == [
        HttpRequest("POST", "/kapacitor/v1/api/v2/tasks", 201, "curl/7.88.1"),
        HttpRequest("GET", "/kapacitor/v1/tasks/a b?script-format=raw", 404, "kapacitor-operator"),
    ]


def test_paths_and_writes() -> None:
    post, get = http_requests(LOG)
    assert (post.is_write, get.is_write) == (True, False)
    assert get.path == "/kapacitor/v1/tasks/a b"


def test_quoted_values_are_unescaped() -> None:
    assert parse_logfmt('msg="say \\"hi\\"" k=v empty=') == {
        "msg": 'say "hi"',
        "k": "v",
        "empty": "",
    }


def test_a_log_not_written_yet_has_no_requests(tmp_path: Path) -> None:
    assert read_http_requests(tmp_path / "kapacitord.log") == []
    (tmp_path / "kapacitord.log").write_text(LOG)
    assert len(read_http_requests(tmp_path / "kapacitord.log")) == 2
