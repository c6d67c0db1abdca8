"""The department registry (#27): every kind of department of each of today's 34 provinces, and the
national office, by one folder-name rule; the one source of the drop zone, the portal's organizations
and the freshness expectations; a department added with one line of data or one command, never by
editing the repository; and only the national office defines a national set's criteria catalogue."""

from __future__ import annotations

import csv
import json
import os
import unicodedata

import ckanapi
import duckdb
import pytest
import yaml
from helpers import REPO, SAMPLES, drop

from ingest.check import check_file
from ingest.run import ingest_dropzone
from ntm import cli
from ntm_core import departments as registry
from publish import run as publish_run

BUILT_IN = REPO / "ingest" / "departments.yaml"
UNITS = REPO / "dbt_project" / "seeds" / "admin_units" / "admin_units.csv"
CATALOGUE = REPO / "tests" / "fixtures" / "assessment_example" / "VIDU_DanhMuc_TieuChi.csv"
PROVINCE_KINDS = ("so-nnmt", "so-khcn", "vp-ntm", "mot-cua", "ubnd-xa")
# The freshness expectations before the registry (expected_updates.csv as it was typed): each is now a
# default of its department's kind, so each is still expected.
EXPECTED_BEFORE = {
    ("so-khcn-son-la", "digital_infrastructure", "yearly"),
    ("so-khcn-dong-thap", "digital_infrastructure", "yearly"),
    ("so-khcn-dong-thap", "online_public_services", "quarterly"),
    ("so-khcn-thai-nguyen", "community_digital_teams", "yearly"),
    ("vp-ntm-dong-thap", "commune_criteria", "yearly"),
    ("vp-ntm-tay-ninh", "commune_criteria", "yearly"),
    ("mot-cua-dong-thap", "public_service_records", "monthly"),
    ("so-nnmt-dong-thap", "cooperatives", "yearly"),
    ("so-nnmt-dong-thap", "ocop_products", "yearly"),
    ("so-nnmt-son-la", "growing_area_codes", "yearly"),
    ("ubnd-xa-dong-thap", "satisfaction_surveys", "yearly"),
}


@pytest.fixture(autouse=True)
def built_in_only(monkeypatch):
    """The repository's registry, whatever the environment says; and a check that no test changes it."""
    monkeypatch.delenv("NTM_DEPARTMENTS", raising=False)
    before = BUILT_IN.read_bytes()
    yield
    assert BUILT_IN.read_bytes() == before, "a test edited ingest/departments.yaml"


def todays_provinces() -> list[dict]:
    """The 34 provinces of 1 July 2025 as the committed official list (the dbt seed) gives them."""
    rows = csv.DictReader(UNITS.open(encoding="utf-8"))
    return [r for r in rows if r["list_version"] == "2025" and r["level"] == "province"]


def folder(prefix: str, short_name: str) -> str:
    """The rule, worked out here on its own: no diacritics (đ → d), lower case, spaces as hyphens."""
    plain = "".join(c for c in unicodedata.normalize("NFD", short_name) if not unicodedata.combining(c))
    return f"{prefix}-" + plain.replace("đ", "d").replace("Đ", "D").lower().replace(" ", "-")


def first_commune(province_code: str) -> dict:
    rows = csv.DictReader(UNITS.open(encoding="utf-8"))
    return next(
        r
        for r in rows
        if r["list_version"] == "2025"
        and r["level"] == "commune"
        and r["province_key"] == f"2025:province:{province_code}"
    )


def test_each_kind_is_registered_for_each_of_the_34_provinces_by_one_folder_rule():
    provinces = todays_provinces()
    assert len(provinces) == 34
    found = registry.departments()
    expected = {
        folder(prefix, p["short_name"]): (prefix, p["short_name"], p["unit_code"])
        for prefix in PROVINCE_KINDS
        for p in provinces
    }
    assert len(expected) == 5 * 34  # the rule gives every department a name of its own
    for name, (prefix, province, code) in expected.items():
        assert (found[name]["kind"], found[name]["province"], found[name]["province_code"]) == (prefix, province, code)
    assert set(found) == {*expected, "vp-ntm-trung-uong"}
    national = found["vp-ntm-trung-uong"]
    assert national["province"] is None and national["title_en"] == "Central NTM Coordination Office"
    assert {"so-khcn-lao-cai", "mot-cua-son-la", "vp-ntm-ho-chi-minh", "so-nnmt-hue"} <= set(found)
    # The sample departments keep their folders, and their provinces.
    samples = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())
    assert "so-khcn-thai-nguyen" in samples and "vp-ntm-tay-ninh" in samples and "ubnd-xa-dong-thap" in samples
    for name in samples:
        assert folder(found[name]["kind"], found[name]["province"]) == name
    assert [registry.province_of(n) for n in ("so-khcn-thai-nguyen", "vp-ntm-tay-ninh", "ubnd-xa-dong-thap")] == [
        "Thái Nguyên",
        "Tây Ninh",
        "Đồng Tháp",
    ]
    # Vietnamese and English names, from the kind and the province.
    assert found["vp-ntm-ho-chi-minh"]["title"] == "Văn phòng Điều phối NTM thành phố Hồ Chí Minh"
    assert found["vp-ntm-ho-chi-minh"]["title_en"] == "Ho Chi Minh City NTM Coordination Office"
    assert found["so-khcn-son-la"]["title"] == "Sở Khoa học và Công nghệ tỉnh Sơn La"
    assert found["so-khcn-son-la"]["title_en"] == "Son La Department of Science and Technology"


def _broadband_csv(commune: dict, value: str) -> bytes:
    header = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)"
    return f"{header}\n{commune['unit_code']};{commune['unit_name']};2026;{value}\n".encode()


def test_departments_of_provinces_the_samples_never_use_land_their_files(dropzone, data_dir):
    codes = {p["short_name"]: p["unit_code"] for p in todays_provinces()}
    sent = {}  # department -> the commune code its file names
    for i, province in enumerate(("Lào Cai", "Cần Thơ", "Hồ Chí Minh", "Huế")):
        commune = first_commune(codes[province])
        department = folder("so-khcn", province)
        drop(
            dropzone,
            department,
            "digital_infrastructure",
            name="HaTangSo_2026.csv",
            content=_broadband_csv(commune, f"6{i},5"),
        )
        sent[department] = commune["unit_code"]
    groups = first_commune(codes["Cần Thơ"])
    drop(
        dropzone,
        "vp-ntm-can-tho",
        "commune_groups",
        name="NhomXa_2026.csv",
        content=(
            "Mã xã,Tên xã,Năm,Bộ tiêu chí,Nhóm xã\n"
            f"{groups['unit_code']},{groups['unit_name']},2026,NTM_XA_2026_2030,2\n"
        ).encode(),
    )
    drop(dropzone, "vp-ntm-trung-uong", "criteria_catalogue", CATALOGUE)
    result = ingest_dropzone(dropzone, data_dir, "r1")
    outcomes = {(f.department, f.dataset): f for f in result.files}
    assert {k: (f.status, f.rows_quarantined) for k, f in outcomes.items()} == {
        **{(d, "digital_infrastructure"): ("landed", 0) for d in sent},
        ("vp-ntm-can-tho", "commune_groups"): ("landed", 0),
        ("vp-ntm-trung-uong", "criteria_catalogue"): ("landed", 0),
    }, [(f.department, f.reason) for f in result.files]
    landed = dict(
        duckdb.sql(
            f"select _department, unit_code from '{data_dir}/bronze/digital_infrastructure/*.parquet'"
        ).fetchall()
    )
    assert landed == sent  # each commune resolved within its department's province
    catalogue_rows = sum(1 for _ in csv.DictReader(CATALOGUE.open(encoding="utf-8-sig")))
    assert outcomes[("vp-ntm-trung-uong", "criteria_catalogue")].rows_landed == catalogue_rows


def test_a_provincial_office_s_catalogue_is_refused_with_the_reason(dropzone, data_dir):
    drop(dropzone, "vp-ntm-lao-cai", "criteria_catalogue", CATALOGUE)
    drop(dropzone, "vp-ntm-trung-uong", "criteria_catalogue", CATALOGUE)
    outcomes = {f.department: f for f in ingest_dropzone(dropzone, data_dir, "r1").files}
    assert outcomes["vp-ntm-trung-uong"].status == "landed"
    refused = outcomes["vp-ntm-lao-cai"]
    assert refused.status == "rejected" and refused.rows_landed == 0
    assert "Department 'vp-ntm-lao-cai' may not send dataset 'criteria_catalogue'" in refused.reason
    assert "only the Central NTM Coordination Office defines the catalogue of a national criteria set" in refused.reason
    [report] = (dropzone / "vp-ntm-lao-cai" / "_reports" / "criteria_catalogue").glob("*.report.json")
    text = json.dumps(json.loads(report.read_text(encoding="utf-8")), ensure_ascii=False)
    assert "chỉ Văn phòng Điều phối nông thôn mới Trung ương ban hành danh mục tiêu chí" in text
    assert "vp-ntm-trung-uong" in text  # who sends it instead
    # `ntm check` (and the portal's submission page) gives the same verdict, and the national office's file lands whole.
    assert not check_file(CATALOGUE, "criteria_catalogue", "vp-ntm-lao-cai").lands_whole
    assert check_file(CATALOGUE, "criteria_catalogue", "vp-ntm-trung-uong").lands_whole


def test_a_department_is_one_line_in_the_ntm_departments_file_merged_over_the_built_in_one(
    dropzone, data_dir, tmp_path, monkeypatch
):
    file = drop(
        dropzone,
        "so-tc-lao-cai",
        "digital_infrastructure",
        name="a.csv",
        content=_broadband_csv(first_commune("15"), "50"),
    )
    assert ingest_dropzone(dropzone, data_dir, "r1").files[0].status == "rejected"  # not registered yet
    extra = tmp_path / "more-departments.yaml"
    extra.write_text("so-tc-lao-cai: {province: Lào Cai, title: Sở Tài chính tỉnh Lào Cai}\n", encoding="utf-8")
    monkeypatch.setenv("NTM_DEPARTMENTS", str(extra))
    found = registry.departments()
    assert len(found) == 5 * 34 + 1 + 1  # merged over the built-in registry, not instead of it
    assert (found["so-tc-lao-cai"]["province"], found["so-tc-lao-cai"]["province_code"]) == ("Lào Cai", "15")
    assert registry.organization("so-tc-lao-cai") == {
        "title": "Sở Tài chính tỉnh Lào Cai",
        "title_en": "Sở Tài chính tỉnh Lào Cai",
    }
    file.write_bytes(_broadband_csv(first_commune("15"), "51"))  # a new file, now from a registered department
    os.utime(file, (file.stat().st_mtime - 60,) * 2)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r2").files
    assert (outcome.status, outcome.rows_landed) == ("landed", 1)
    # A field of a registered department is overridden, the rest kept; a new kind is one entry for every province.
    extra.write_text(
        "so-khcn-son-la: {title_en: Son La DOST}\n"
        "kinds:\n  so-tc:\n    title: {vi: 'Sở Tài chính {province}', en: '{province} Department of Finance'}\n"
        "    datasets: {online_public_services: quarterly}\n",
        encoding="utf-8",
    )
    found = registry.departments()
    assert found["so-khcn-son-la"]["title_en"] == "Son La DOST"
    assert found["so-khcn-son-la"]["province"] == "Sơn La" and found["so-khcn-son-la"]["kind"] == "so-khcn"
    assert found["so-tc-can-tho"]["title_en"] == "Can Tho City Department of Finance"
    assert len([n for n in found if n.startswith("so-tc-")]) == 34
    assert found["so-tc-hue"]["datasets"] == {"online_public_services": {"frequency": "quarterly", "source": ""}}


def test_ntm_departments_add_show_and_list(tmp_path, monkeypatch, capsys):
    extra = tmp_path / "registry" / "departments.yaml"
    assert cli.main(["departments", "add", "so-tc-can-tho", "--province", "Cần Thơ"]) == 2  # no file to add to
    assert "NTM_DEPARTMENTS" in capsys.readouterr().err
    monkeypatch.setenv("NTM_DEPARTMENTS", str(extra))
    args = ["departments", "add", "so-tc-can-tho", "--province", "can tho", "--title", "Sở Tài chính thành phố Cần Thơ"]
    assert cli.main([*args, "--title-en", "Can Tho City Department of Finance"]) == 0
    assert "so-tc-can-tho registered" in capsys.readouterr().out
    assert extra.read_text(encoding="utf-8").splitlines() == [
        "so-tc-can-tho: {province: Cần Thơ, title: Sở Tài chính thành phố Cần Thơ, title_en: Can Tho City Department of"
        " Finance}"
    ]
    assert cli.main(["departments", "add", "ubnd-xa-can-tho-2", "--kind", "ubnd-xa", "--province", "92"]) == 0
    assert registry.department("ubnd-xa-can-tho-2")["title"] == "UBND các xã thành phố Cần Thơ"  # from its kind
    assert len(extra.read_text(encoding="utf-8").splitlines()) == 2
    capsys.readouterr()
    assert cli.main(["departments", "show", "so-tc-can-tho", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["so-tc-can-tho"]
    assert (shown["province"], shown["province_code"], shown["title_en"]) == (
        "Cần Thơ",
        "92",
        "Can Tho City Department of Finance",
    )
    assert cli.main(["departments", "list", "--province", "Thành phố Cần Thơ"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted([*(folder(k, "Cần Thơ") for k in PROVINCE_KINDS), "so-tc-can-tho", "ubnd-xa-can-tho-2"])
    assert cli.main(["departments", "show", "vp-ntm-trung-uong"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["vp-ntm-trung-uong"]["datasets"]["criteria_catalogue"]
    # Refused, saying why: a name taken, a province not on today's map, an unknown kind, a bad folder name.
    for bad, why in (
        (["so-tc-can-tho", "--province", "Cần Thơ"], "already registered"),
        (["so-tc-tien-giang", "--province", "Tiền Giang"], "not a province of today's map"),
        (["so-xd-hue", "--kind", "so-xd", "--province", "Huế"], "kind 'so-xd' is not registered"),
        (["Sở Xây dựng", "--province", "Huế"], "a folder name is lower-case letters"),
    ):
        assert cli.main(["departments", "add", *bad]) == 2
        assert why in capsys.readouterr().err
    assert cli.main(["departments", "show", "so-khcn-laocai"]) == 1
    assert "so-khcn-lao-cai" in capsys.readouterr().err  # the closest names


def test_the_expected_updates_seed_is_what_the_registry_gives():
    seed = REPO / "dbt_project" / "seeds" / "program" / "expected_updates.csv"
    rows = list(csv.DictReader(seed.open(encoding="utf-8")))
    assert rows == [{k: str(v) for k, v in r.items()} for r in registry.expected_updates()], (
        "run `uv run ntm units export-seeds`"
    )
    assert EXPECTED_BEFORE <= {(r["department"], r["dataset"], r["frequency"]) for r in rows}
    assert all(r["note"] for r in rows)  # where each frequency comes from
    # every department of a kind is expected to send its kind's datasets
    science = {r["department"] for r in rows if r["dataset"] == "digital_infrastructure"}
    assert science == {folder("so-khcn", p["short_name"]) for p in todays_provinces()}


class _Portal:
    """Just enough of ckanapi's RemoteCKAN to see which organizations publishing creates."""

    def __init__(self):
        self.created = {}
        self.action = self

    def organization_show(self, **_):
        raise ckanapi.NotFound()

    def organization_create(self, name, title, description, extras):
        self.created[name] = {"title": title, **{e["key"]: e["value"] for e in extras}}
        return {"name": name}


def test_the_portal_organizations_are_the_registry_s():
    organizations = yaml.safe_load((REPO / "publish" / "organizations.yaml").read_text(encoding="utf-8"))
    assert set(organizations) == {"program"}  # no second copy of the departments
    portal = _Portal()
    assert publish_run._owner(portal, ["so-nnmt-hue"]) == "so-nnmt-hue"
    assert publish_run._owner(portal, ["vp-ntm-lao-cai", "vp-ntm-trung-uong"]) == "chuong-trinh-ntm"
    for name in ("so-nnmt-hue", "vp-ntm-lao-cai", "vp-ntm-trung-uong"):
        entry = registry.department(name)
        assert portal.created[name] == {"title": entry["title"], "title_en": entry["title_en"]}
    assert portal.created["so-nnmt-hue"]["title"] == "Sở Nông nghiệp và Môi trường thành phố Huế"
    assert portal.created["so-nnmt-hue"]["title_en"] == "Hue City Department of Agriculture and Environment"
    # A change to the registry is a change to what is published (the organization's titles).
    assert set(registry.registry_files()) <= set(publish_run.publish_rules("fact_digital_infrastructure"))
