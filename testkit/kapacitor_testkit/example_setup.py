"""What examples/ needs in Kapacitor besides the manifests themselves.

examples/03 instantiates the template ``threshold_alert``, which a Kapacitor administrator
would have defined (``kapacitor define-template``); no kind of this operator manages
templates yet, so the playground and the e2e suite define it through the Kapacitor API,
with this one script. It alerts, per series, when the latest value of ``field`` in
``measurement`` exceeds ``crit``: with the data writer's disks, examples/03 fires when a
disk is more than 95 % full.
"""

from __future__ import annotations

import httpx

THRESHOLD_ALERT_ID = "threshold_alert"

THRESHOLD_ALERT = """\
// The measurement to watch.
var measurement string

// The field compared with crit, per series (every tag is a group).
var field = 'used_percent'

// Alert when the latest value is above this.
var crit = 90.0

stream
    |from()
        .measurement(measurement)
        .groupBy(*)
    |last(field)
        .as('value')
    |alert()
        .crit(lambda: "value" > crit)
        .log('{log_dir}/threshold_alert.log')
"""
"""The template's script; ``{log_dir}`` is where its alert log goes."""


def ensure_template(
    client: httpx.Client, template_id: str, script: str, template_type: str = "stream"
) -> None:
    """Define the template, or update it if its script differs (idempotent).

    Raises:
        httpx.HTTPStatusError: Kapacitor refused the template (its text is in the error).
    """
    path = f"/kapacitor/v1/templates/{template_id}"
    current = client.get(path, params={"script-format": "raw"})
    if current.status_code == 404:
        body = {"id": template_id, "type": template_type, "script": script}
        client.post("/kapacitor/v1/templates", json=body).raise_for_status()
        return
    current.raise_for_status()
    if current.json().get("script") != script:
        client.patch(path, json={"type": template_type, "script": script}).raise_for_status()


def prepare_kapacitor(base_url: str, log_dir: str = "/tmp") -> None:
    """Give a Kapacitor what examples/ expects to find there; the template's alerts are
    logged under ``log_dir`` (the playground's ``/tmp``; a test's own directory).

    Raises:
        httpx.HTTPError: Kapacitor could not be reached or refused a definition.
    """
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        script = THRESHOLD_ALERT.replace("{log_dir}", log_dir)
        ensure_template(client, THRESHOLD_ALERT_ID, script)
