"""Departments submit on the portal (#17), against the real local CKAN: a member of a department
submits for it and sees the pipeline's verdict at once; for another department, or anonymously,
the portal refuses; the pipeline then fetches the submission, lands it and writes its fate back."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from helpers import sample

from ntm import pipeline
from ntm_core.departments import organization
from publish import ckan as publish_ckan
from publish.ckan import ensure_organization, organizations

pytestmark = pytest.mark.portal
A, B = "so-khcn-son-la", "so-khcn-dong-thap"


@pytest.fixture
def members(ckan):
    """Two accounts, each an editor of one department's organization, with an API token each."""
    made = {}
    for department in (A, B):
        ensure_organization(ckan, department, organization(department))
        name = f"t{uuid.uuid4().hex[:8]}"
        user = ckan.action.user_create(name=name, email=f"{name}@localhost", password=uuid.uuid4().hex)
        ckan.action.member_create(id=department, object=user["id"], object_type="user", capacity="editor")
        token = ckan.action.api_token_create(user=name, name="submit")["token"]
        made[department] = {"name": name, "token": token}
    yield made
    for department, member in made.items():
        ckan.action.user_delete(id=member["name"])
        try:
            ckan.action.dataset_purge(id=f"ntm-nop-{department}")
        except Exception:
            pass


def submit(ckan, token, department, dataset, path):
    with open(path, "rb") as f:
        return requests.post(
            f"{ckan.address}/api/3/action/ntm_submit",
            headers={"Authorization": token} if token else {},
            data={"department": department, "dataset": dataset},
            files={"upload": (path.name, f)},
            timeout=300,
        )


def test_a_member_submits_for_their_department_only_and_the_file_lands(ckan, members, dropzone, data_dir, tmp_path):
    good = sample(A, "digital_infrastructure")
    answer = submit(ckan, members[A]["token"], A, "digital_infrastructure", good)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    # The pipeline's own check, at once: it lands whole, every column read, nothing to fix.
    assert result["verdict"] == "lands" and result["report"]["verdict"] == "landed"
    assert result["report"]["problems"] == [] and result["report"]["columns"]["not_recognised"] == []

    # A bad file: the verdict says what to fix, row by row, and the report stays on the submission.
    bad = tmp_path / "HaTangSo_2023.csv"
    bad.write_text("Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n03664;Xã Chiềng Xôm;2023;146,5\n", "utf-8")
    held = submit(ckan, members[A]["token"], A, "digital_infrastructure", bad).json()["result"]
    assert held["verdict"] == "held_back" and held["report"]["problems"]
    stored = ckan.action.resource_show(id=held["resource_id"])
    assert json.loads(stored["ntm_report"])["problems"] == held["report"]["problems"]

    # The page: a member sees only the departments they may submit for; a visitor is refused.
    page = requests.get(f"{ckan.address}/submit", headers={"Authorization": members[A]["token"]}, timeout=60)
    assert page.status_code == 200 and f'value="{A}"' in page.text and f'value="{B}"' not in page.text
    assert requests.get(f"{ckan.address}/submit", timeout=60).status_code == 403

    # For another department, or without an account: refused by the portal.
    other = submit(ckan, members[A]["token"], B, "digital_infrastructure", good)
    assert other.status_code == 403 and other.json()["error"]["__type"] == "Authorization Error"
    anonymous = submit(ckan, None, A, "digital_infrastructure", good)
    assert anonymous.status_code == 403

    # The pipeline fetches the submissions of A, lands the good one and writes each fate back.
    result = pipeline.ingest(dropzone, data_dir, departments=[A])
    fates = {f.file_name: f.status for f in result.files}
    assert fates[good.name] == "landed"
    assert ckan.action.resource_show(id=answer.json()["result"]["resource_id"])["ntm_fate"] == "landed"
    assert ckan.action.resource_show(id=held["resource_id"])["ntm_fate"] == fates[bad.name]
    audit = [json.loads(line) for line in (data_dir / "submissions.jsonl").read_text().splitlines()]
    assert {a["submitted_by"] for a in audit} == {members[A]["name"]}  # kept with the ledger, never published
    assert not list(dropzone.glob(f"{B}/**/*.xlsx"))  # nothing reached B's folder


def test_correcting_an_organization_keeps_its_members(ckan, members):
    ensure_organization(ckan, A, {"title": "Tên tạm / a temporary title"})  # a title to correct
    ensure_organization(ckan, A, organization(A))
    users = ckan.action.organization_show(id=A, include_users=True)["users"]
    assert members[A]["name"] in {u["name"] for u in users if u["capacity"] == "editor"}


def test_organizations_read_once_are_corrected_and_kept_current(ckan, members, monkeypatch):
    """A publish reads the portal's organizations once (page by page) and corrects them from that
    copy: a theme with 170 source departments costs a few requests, not one per department."""
    ensure_organization(ckan, A, {"title": "Tên tạm / a temporary title"})
    monkeypatch.setattr(publish_ckan, "ORGANIZATION_PAGE", 2)  # several pages on any portal
    known = organizations(ckan)
    assert set(known) == set(ckan.action.organization_list())
    assert known[A]["title"] == "Tên tạm / a temporary title"
    ensure_organization(ckan, A, organization(A), known)
    on_portal = ckan.action.organization_show(id=A, include_users=True)
    assert known[A]["title"] == on_portal["title"] == organization(A)["title"]
    assert {e["key"]: e["value"] for e in on_portal["extras"]}["title_en"] == organization(A)["title_en"]
    assert members[A]["name"] in {u["name"] for u in on_portal["users"] if u["capacity"] == "editor"}
