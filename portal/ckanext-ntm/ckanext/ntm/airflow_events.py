"""Tell Airflow at once that a department submitted a file: an asset event on the drop zone's asset
through Airflow 3's REST API, naming the department, so its ingest runs now rather than on the next
poll (#31).

The standard library only: the portal runs in its own virtual environment, without the pipeline's
packages, and the tests load this file as it is. Three small requests: a JWT from the auth
manager's token endpoint (`POST /auth/token`, the simple auth manager's; a deployment with another
auth manager gives a token of its own in `NTM_AIRFLOW_TOKEN`), the asset's id (`GET /api/v2/assets`),
the event (`POST /api/v2/assets/events`). Credentials come from the environment only and never
appear in an error message."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 5.0  # seconds per request: the submitter is waiting for the verdict page
ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN = "NTM_AIRFLOW_USERNAME", "NTM_AIRFLOW_PASSWORD", "NTM_AIRFLOW_TOKEN"


class NotifyError(Exception):
    """Airflow was not told: the message names the step and the HTTP status, never a credential."""


def credentials(environ=os.environ) -> dict | None:
    """A ready token, or a user name and password for the token endpoint; None when neither is set."""
    if environ.get(ENV_TOKEN):
        return {"token": environ[ENV_TOKEN]}
    if environ.get(ENV_USERNAME) and environ.get(ENV_PASSWORD):
        return {"username": environ[ENV_USERNAME], "password": environ[ENV_PASSWORD]}
    return None


def _call(step: str, url: str, body: dict | None = None, token: str | None = None, timeout: float = TIMEOUT):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        raise NotifyError(f"{step}: HTTP {err.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise NotifyError(f"{step}: {type(reason).__name__}") from None


def token(base: str, creds: dict, timeout: float = TIMEOUT) -> str:
    if "token" in creds:
        return creds["token"]
    answer = _call("token", f"{base}/auth/token", creds, timeout=timeout)
    if not answer.get("access_token"):
        raise NotifyError("token: no access_token in the answer")
    return answer["access_token"]


def asset_id(base: str, uri: str, jwt: str, timeout: float = TIMEOUT) -> int:
    query = urllib.parse.urlencode({"uri_pattern": uri, "limit": 100})
    answer = _call("asset", f"{base}/api/v2/assets?{query}", token=jwt, timeout=timeout)
    for asset in answer.get("assets", []):
        if asset.get("uri") == uri:
            return int(asset["id"])
    raise NotifyError(f"asset: {uri} is not known to Airflow (is the ntm_ingest DAG parsed?)")


def notify(base: str, uri: str, extra: dict, creds: dict, timeout: float = TIMEOUT) -> dict:
    """Create an asset event on `uri` with `extra`; return Airflow's answer (the event)."""
    base = base.rstrip("/")
    jwt = token(base, creds, timeout)
    event = {"asset_id": asset_id(base, uri, jwt, timeout), "extra": extra}
    return _call("event", f"{base}/api/v2/assets/events", event, token=jwt, timeout=timeout)


def submission_extra(department: str, dataset: str, resource_id: str) -> dict:
    """What the event says: the department whose ingest should run (the DAG reads `departments`)."""
    return {"departments": [department], "dataset": dataset, "submission": resource_id, "source": "portal"}
