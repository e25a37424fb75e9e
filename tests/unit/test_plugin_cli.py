"""kubectl kapacitor: argument parsing, names, --since, output formatting, credentials.

No cluster and no network: the command line and the pure helpers only (the commands
themselves run against a real control plane in tests/e2e/test_plugin.py).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kapacitor_operator import __version__
from kapacitor_operator.models.resources import KAPACITORTASK, TASKRUN
from kapacitor_operator.plugin import cli
from kapacitor_operator.plugin.errors import PluginError, UsageError
from kapacitor_operator.plugin.manifests import read_manifests
from kapacitor_operator.plugin.names import parse_target, resolve_kind
from kapacitor_operator.plugin.options import GlobalOptions, global_options
from kapacitor_operator.plugin.output import document, fields, table
from kapacitor_operator.plugin.session import impersonation_headers, load_user_credentials
from kapacitor_operator.plugin.since import parse_since

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        "kt",
        "ktask",
        "kapacitortask",
        "kapacitortasks",
        "KapacitorTask",
        "KT",
        "kapacitortasks.kapacitor.operator.dev",
    ],
)
def test_kapacitortask_spellings(word: str) -> None:
    assert resolve_kind(word) is KAPACITORTASK
    assert parse_target([f"{word}/cpu"], KAPACITORTASK) == "cpu"
    assert parse_target([word, "cpu"], KAPACITORTASK) == "cpu"


@pytest.mark.parametrize(
    "word", ["tr", "ktr", "taskrun", "taskruns", "TaskRun", "taskruns.kapacitor.operator.dev"]
)
def test_taskrun_spellings(word: str) -> None:
    assert resolve_kind(word) is TASKRUN
    assert parse_target([f"{word}/nightly"], TASKRUN) == "nightly"


def test_a_bare_name_is_of_the_commands_kind() -> None:
    assert parse_target(["cpu"], KAPACITORTASK) == "cpu"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "a kapacitortask name is required"),
        (["taskrun/x"], "works on kapacitortasks, not taskruns"),
        (["pods/x"], 'resource type "pods"'),
        (["kt/"], "invalid kapacitortask name ''"),
        (["kt/a/b"], "invalid kapacitortask name 'a/b'"),
        (["kt", "a", "b"], "expected one kapacitortask"),
        (["kt/a", "b"], "either TYPE/NAME or TYPE NAME"),
    ],
)
def test_bad_targets_are_usage_errors(words: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")) as caught:
        parse_target(words, KAPACITORTASK)
    assert caught.value.exit_code == 2


# --- --since --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("2024-04-30T10:00:00Z", datetime(2024, 4, 30, 10, tzinfo=UTC)),
        ("2024-04-30T12:00:00+02:00", datetime(2024, 4, 30, 10, tzinfo=UTC)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "", "2024-04-30", "5 minutes", "-1h"])
def test_bad_since(text: str) -> None:
    with pytest.raises(UsageError, match="invalid --since"):
        parse_since(text, NOW)


# --- the command line -----------------------------------------------------------------


def parse(*argv: str) -> GlobalOptions:
    return global_options(cli.build_parser().parse_args(list(argv)))


def test_shared_flags_before_and_after_the_command() -> None:
    before = parse("-n", "ns", "-o", "json", "show", "kt/x")
    after = parse("show", "kt/x", "--namespace", "ns", "--output", "json")
    assert before == after
    assert (before.namespace, before.output, before.service_proxy) == ("ns", "json", "auto")


def test_defaults() -> None:
    options = parse("logs", "tr/x")
    assert options == GlobalOptions()


def test_every_shared_flag() -> None:
    options = parse(
        "validate",
        "-f",
        "x.yaml",
        "--kubeconfig",
        "/k",
        "--context",
        "c",
        "--as",
        "jane",
        "--as-group",
        "a",
        "--as-group",
        "b",
        "--request-timeout",
        "1m",
        "--kapacitor-url",
        "http://localhost:9092",
        "--operator-namespace",
        "ops",
        "--service-proxy",
        "always",
    )
    assert options == GlobalOptions(
        kubeconfig="/k",
        context="c",
        as_user="jane",
        as_groups=("a", "b"),
        request_timeout=60.0,
        kapacitor_url="http://localhost:9092",
        operator_namespace="ops",
        service_proxy="always",
    )
    assert parse("show", "x", "--request-timeout", "2.5").request_timeout == 2.5


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "tr/x"], "error: this command works on kapacitortasks, not taskruns"),
        (["show"], "error: the following arguments are required: kapacitortask/NAME"),
        (["logs", "x", "--attempt", "0"], "error: --attempt counts from 1"),
        (["logs", "x", "-f", "-o", "yaml"], "error: --follow prints text"),
        (["show", "x", "--runs", "0"], "error: --runs must be between 1 and 500"),
        (["show", "x", "--request-timeout", "soon"], "error: unsupported duration 'soon'"),
        (["show", "x", "-o", "xml"], "error: argument -o/--output: invalid choice: 'xml'"),
        (["retry-failed", "kt/x", "--since", "then"], "error: invalid --since 'then'"),
        (["validate"], "error: the following arguments are required: -f/--filename"),
        (["frobnicate"], "error: argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_kubectls_format(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) <= 2


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    for command in ("show", "logs", "retry-failed", "validate"):
        assert command in out
    for command in ("show", "logs", "retry-failed", "validate"):
        code, out, _ = run_main(capsys, command, "--help")
        assert code == 0
        assert f"usage: kubectl kapacitor {command}" in out
        assert "--namespace" in out
    assert run_main(capsys, "version")[:2] == (0, f"{__version__}\n")
    assert run_main(capsys)[0] == 0


def test_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out, err = run_main(capsys, "show", "kt/x")
    assert (code, out) == (1, "")
    assert err == (
        "error: not running in a Pod with a ServiceAccount token, and no kubeconfig at "
        f"{tmp_path / 'missing'}\n"
    )


# --- credentials and identity ---------------------------------------------------------


def kubeconfig(path: Path) -> Path:
    doc = {
        "clusters": [
            {"name": "a", "cluster": {"server": "https://a:6443"}},
            {"name": "b", "cluster": {"server": "https://b:6443"}},
        ],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [
            {"name": "one", "context": {"cluster": "a", "user": "u", "namespace": "team-a"}},
            {"name": "two", "context": {"cluster": "b", "user": "u"}},
        ],
        "current-context": "one",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_kubeconfig_flag_and_context(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path / "config"))
    current = load_user_credentials(GlobalOptions(kubeconfig=path), environ={})
    assert (current.server, current.namespace) == ("https://a:6443", "team-a")
    other = load_user_credentials(GlobalOptions(kubeconfig=path, context="two"), environ={})
    assert (other.server, other.namespace) == ("https://b:6443", "default")
    with pytest.raises(PluginError, match="no context named 'three'"):
        load_user_credentials(GlobalOptions(kubeconfig=path, context="three"), environ={})


def test_kubeconfig_env_wins_over_in_cluster(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config")
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "namespace").write_text("pods-ns")
    env = {"KUBECONFIG": str(path), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    env["KUBERNETES_SERVICE_PORT"] = "443"
    assert load_user_credentials(GlobalOptions(), env, sa).server == "https://a:6443"
    env["KUBECONFIG"] = str(tmp_path / "absent")
    (sa / "ca.crt").write_text("")
    in_pod = load_user_credentials(GlobalOptions(), env, sa)
    assert (in_pod.source, in_pod.namespace) == ("in-cluster", "pods-ns")


def test_impersonation_headers() -> None:
    options = GlobalOptions(as_user="jane", as_groups=("ops", "dev"))
    assert impersonation_headers(options) == [
        ("Impersonate-User", "jane"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Group", "dev"),
    ]
    assert impersonation_headers(GlobalOptions()) == []
    with pytest.raises(PluginError, match="--as-group needs --as"):
        impersonation_headers(GlobalOptions(as_groups=("ops",)))


# --- output ---------------------------------------------------------------------------


def test_table_is_kubectl_like() -> None:
    text = table(["run id", "result"], [["0123456789abcdef", "created"], ["ab", None]])
    assert text == (
        "RUN ID             RESULT\n0123456789abcdef   created\nab                 <none>\n"
    )


def test_documents() -> None:
    doc = {"b": 1, "a": ["é", {"x": None}]}
    assert document(doc, "json") == json.dumps(doc, indent=4, ensure_ascii=False) + "\n"
    assert yaml.safe_load(document(doc, "yaml")) == doc
    assert document(doc, "yaml").startswith("b: 1\n")  # keys keep their order
    with pytest.raises(ValueError, match="unknown output format"):
        document(doc, "xml")


def test_fields_align_and_indent_multiline_values() -> None:
    text = fields([("Name", "cpu"), ("Error", ""), ("Script", "stream\n    |from()")])
    assert text == "Name:    cpu\nError:   <none>\nScript:  stream\n             |from()\n"


# --- -f FILE --------------------------------------------------------------------------


def test_manifests_from_files_directories_and_lists(tmp_path: Path) -> None:
    task = {"apiVersion": "kapacitor.operator.dev/v1alpha1", "kind": "KapacitorTask"}
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all([{**task, "metadata": {"name": "one"}}, None, {"kind": "ConfigMap"}])
    )
    listed = {"kind": "List", "items": [{**task, "metadata": {"name": "two"}}]}
    (tmp_path / "b.json").write_text(json.dumps(listed))
    (tmp_path / "notes.txt").write_text("not a manifest")
    found = read_manifests([str(tmp_path)])
    assert [(m.describe(), m.is_kapacitortask) for m in found] == [
        ("KapacitorTask/one", True),
        ("ConfigMap/<unnamed>", False),
        ("KapacitorTask/two", True),
    ]
    other_group = read_manifests([str(tmp_path / "b.json")])[0]
    assert other_group.source.endswith("b.json")
    with pytest.raises(PluginError, match=r'the path ".*nope" does not exist'):
        read_manifests([str(tmp_path / "nope")])
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(PluginError, match="error parsing"):
        read_manifests([str(tmp_path / "bad.yaml")])


def test_a_kapacitortask_of_another_group_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("apiVersion: example.com/v1\nkind: KapacitorTask\n")
    assert not read_manifests([str(tmp_path / "x.yaml")])[0].is_kapacitortask


# --- exec credential plugins ----------------------------------------------------------

EXEC_SCRIPT = """#!{python}
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
if os.environ.get("FAIL"):
    sys.exit(3)
status = {{"token": "tok-" + os.environ["WHO"] + "-" + str(info["spec"]["interactive"])}}
if "cluster" in info["spec"]:
    status["token"] += "-" + info["spec"]["cluster"]["server"]
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}}))
"""


def exec_kubeconfig(tmp_path: Path, **exec_block: object) -> str:
    script = tmp_path / "bin" / "fake-exec"
    script.parent.mkdir(exist_ok=True)
    script.write_text(EXEC_SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    block = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "./bin/fake-exec",  # relative to the kubeconfig's directory
        "env": [{"name": "WHO", "value": "jane"}],
        "interactiveMode": "Never",
        **exec_block,
    }
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://api:6443"}}],
        "users": [{"name": "u", "user": {"exec": block}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_exec_credential_plugins_run_as_kubectl_runs_them(tmp_path: Path) -> None:
    creds = load_user_credentials(GlobalOptions(kubeconfig=exec_kubeconfig(tmp_path)), {})
    assert creds.token == "tok-jane-False"
    assert "tok-" not in repr(creds)
    with_cluster = exec_kubeconfig(tmp_path, provideClusterInfo=True)
    assert load_user_credentials(GlobalOptions(kubeconfig=with_cluster), {}).token == (
        "tok-jane-False-https://api:6443"
    )


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"env": [{"name": "WHO", "value": "x"}, {"name": "FAIL", "value": "1"}]},
         "exec plugin '.*fake-exec' exited with code 3"),
        ({"command": "no-such-exec-plugin", "installHint": "install it"},
         "exec plugin 'no-such-exec-plugin' not found: install it"),
        ({"apiVersion": "client.authentication.k8s.io/v1alpha1"}, "is not supported"),
        ({"command": "true"}, "printed no ExecCredential"),
    ],
)  # fmt: skip
def test_exec_plugin_failures(tmp_path: Path, block: dict[str, object], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        load_user_credentials(GlobalOptions(kubeconfig=exec_kubeconfig(tmp_path, **block)), {})
