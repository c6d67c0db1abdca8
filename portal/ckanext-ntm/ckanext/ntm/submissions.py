"""Departments submit their files on the portal (#17): the action `ntm_submit`, its authorisation
and the verdict.

- Only a member of the department's organization who may create datasets there (editor, admin)
  may submit for it; anyone else, and anonymous visitors, are refused by CKAN's authorisation.
- The file becomes a resource of the organization's private dataset `ntm-nop-<organization>`,
  with the dataset it is for and the account that sent it (never published: the dataset is
  private, and the pipeline keeps the account name in its audit only).
- The verdict comes at once from the pipeline's own check (`ntm check FILE --dataset D
  --department DEP --json`, the command named by `ntm.check_command`), landing nothing; it is
  kept on the resource. The pipeline then fetches the submission like any other source and
  writes the file's final fate back (`ntm_fate`).
- Airflow is told at once (`ntm.airflow_url`, credentials in the portal's environment): an asset
  event on the drop zone's asset (`ntm.airflow_asset`) naming the department, so its ingest runs
  now (ckanext.ntm.airflow_events). Without them, or when Airflow does not answer, the submission
  is accepted all the same and the pipeline's hourly poll fetches it.
"""

from __future__ import annotations

import json
import logging
import subprocess

import ckan.plugins.toolkit as tk
from ckan import authz

from ckanext.ntm import airflow_events

log = logging.getLogger(__name__)

SUBMISSIONS = "ntm-nop-{organization}"
MAX_MB_DEFAULT = 100
CHECK_TIMEOUT = 300


def submit_auth(context, data_dict):
    """Editors and admins of the department's organization; nobody else."""
    user = context.get("user")
    org = data_dict.get("department")
    if not user or not org:
        return {
            "success": False,
            "msg": "Chỉ thành viên của đơn vị mới được gửi tệp / Only the department's members may submit",
        }
    try:
        org_id = tk.get_action("organization_show")({"ignore_auth": True}, {"id": org})["id"]
    except tk.ObjectNotFound:
        return {"success": False, "msg": f"Không có đơn vị {org} / No department {org}"}
    if authz.has_user_permission_for_group_or_org(org_id, user, "create_dataset"):
        return {"success": True}
    return {"success": False, "msg": f"Tài khoản không thuộc đơn vị {org} / The account is not a member of {org}"}


def _container(org: str) -> dict:
    """The organization's private dataset of submissions, created the first time."""
    site = {"ignore_auth": True, "user": tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]}
    name = SUBMISSIONS.format(organization=org)
    try:
        return tk.get_action("package_show")(site, {"id": name})
    except tk.ObjectNotFound:
        return tk.get_action("package_create")(
            site,
            {
                "name": name,
                "title": f"Tệp gửi của {org}",
                "title_en": f"Files submitted by {org}",
                "owner_org": org,
                "private": True,
                "notes": "Tệp các thành viên của đơn vị gửi qua cổng; không công bố.",
                "notes_en": "Files the department's members submitted on the portal; never published.",
            },
        )


def submit(context, data_dict):
    tk.check_access("ntm_submit", context, data_dict)
    org, dataset, upload = data_dict["department"], data_dict.get("dataset"), data_dict.get("upload")
    if not dataset or upload is None:
        raise tk.ValidationError({"upload": ["Chọn bộ dữ liệu và tệp / Choose the dataset and the file"]})
    _check_size(upload)
    user = tk.get_action("user_show")({"ignore_auth": True}, {"id": context["user"]})
    site = {"ignore_auth": True, "user": tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]}
    container = _container(org)
    resource = tk.get_action("resource_create")(
        site,
        {
            "package_id": container["id"],
            "upload": upload,
            "name": getattr(upload, "filename", None) or "submission",
            "ntm_dataset": dataset,
            "ntm_submitted_by": user["name"],
            "ntm_submitted_by_id": user["id"],
            "ntm_status": "submitted",
        },
    )
    verdict = _verdict(resource, dataset, org)
    resource = tk.get_action("resource_patch")(
        site, {"id": resource["id"], "ntm_verdict": verdict["verdict"], "ntm_report": json.dumps(verdict["report"])}
    )
    told = _tell_airflow(org, dataset, resource["id"])
    return {"resource_id": resource["id"], "dataset": dataset, "department": org, "airflow_notified": told, **verdict}


def _tell_airflow(org: str, dataset: str, resource_id: str) -> bool:
    """An asset event naming the department, so its ingest starts now. Never fails the submission:
    whatever goes wrong is logged (the step and the HTTP status, no credential) and the poll
    fetches the file."""
    url, uri = tk.config.get("ntm.airflow_url"), tk.config.get("ntm.airflow_asset")
    creds = airflow_events.credentials()
    if not url or not uri or not creds:
        return False
    try:
        airflow_events.notify(url, uri, airflow_events.submission_extra(org, dataset, resource_id), creds)
    except Exception as err:  # noqa: BLE001 - any failure: the submission stands, the poll catches it
        message = str(err) if isinstance(err, airflow_events.NotifyError) else type(err).__name__
        log.warning("ntm_submit: Airflow not told of %s's submission (%s); the poll will fetch it", org, message)
        return False
    return True


def _check_size(upload) -> None:
    limit = int(tk.config.get("ntm.max_submission_mb") or MAX_MB_DEFAULT)
    stream = getattr(upload, "stream", None)
    if stream is not None and hasattr(stream, "seek"):
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        if size > limit * 1024 * 1024:
            raise tk.ValidationError(
                {"upload": [f"Tệp lớn hơn {limit} MB / The file is larger than {limit} MB (ntm.max_submission_mb)"]}
            )


def _verdict(resource: dict, dataset: str, org: str) -> dict:
    """The pipeline's own verdict on the stored file: lands (whole), or the report of what to fix."""
    from ckan.lib.uploader import get_resource_uploader

    command = tk.config.get("ntm.check_command")
    if not command:
        return {"verdict": "unchecked", "report": None}
    path = get_resource_uploader(resource).get_path(resource["id"])
    # The stored copy has no name; the check reads the file under the name it was sent with.
    import shutil
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="ntm-submit-") as scratch:
        named = Path(scratch) / (Path(resource.get("name") or "submission").name or "submission")
        shutil.copyfile(path, named)
        done = subprocess.run(
            [command, "check", str(named), "--dataset", dataset, "--department", org, "--json"],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
        )
    try:
        report = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        report = {"error": done.stdout[-2000:] + done.stderr[-2000:]}
    return {"verdict": "lands" if done.returncode == 0 else "held_back", "report": report}
