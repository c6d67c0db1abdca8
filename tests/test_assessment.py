"""Computed attainment on an example catalogue (tests/fixtures/assessment_example, invented for the
test: see its README), through ingest and `dbt build`: thresholds per commune group, a value from a
lakehouse column, no data kept apart from not met, reported results kept beside computed ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
from helpers import REPO, SAMPLES, drop

from expectations.validate import validate_marts
from ingest.run import ingest_dropzone
from ntm import cli
from ntm.transform import transform

EXAMPLE = REPO / "tests" / "fixtures" / "assessment_example"
DEPARTMENT = "vp-ntm-dong-thap"
NATIONAL_OFFICE = "vp-ntm-trung-uong"  # the one sender of a criteria catalogue (its contract's `senders`)
FILES = {
    "criteria_catalogue": "VIDU_DanhMuc_TieuChi.csv",
    "commune_groups": "VIDU_NhomXa_2023.csv",
    "indicator_values": "VIDU_GiaTri_ChiTieu_2023.csv",
    "commune_criteria": "VIDU_DanhGia_2023.csv",
}
BROADBAND = SAMPLES / "so-khcn-dong-thap" / "digital_infrastructure" / "HaTangSo_HuyenCaoLanh_2023.csv"


@pytest.fixture(scope="module")
def example_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("assessment")
    dropzone, data_dir = root / "dropzone", root / "data"
    for dataset, name in FILES.items():
        drop(dropzone, NATIONAL_OFFICE if dataset == "criteria_catalogue" else DEPARTMENT, dataset, EXAMPLE / name)
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", BROADBAND)
    ingested = ingest_dropzone(dropzone, data_dir, "run-assessment")
    assert {f.status for f in ingested.files} == {"landed"}, [(f.file_name, f.reason) for f in ingested.files]
    assert transform(data_dir, docs=False).success
    return data_dir


def rows(path, delimiter=","):
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=delimiter))


def number(text):
    return float(text.replace(",", ".")) if text else None


def expected_scorecards():
    """The example's scorecards worked out here from the four files and the broadband sample, by the
    rules of the issue: the commune group's threshold, else no data; a criterion is met when all its
    indicators are; the computed result counts where there is one, else the reported one."""
    catalogue = rows(EXAMPLE / FILES["criteria_catalogue"])
    groups = {r["Mã xã"]: r["Nhóm xã"] for r in rows(EXAMPLE / FILES["commune_groups"])}
    values = {(r["Mã xã"], r["Mã chỉ tiêu"] or r["Tiêu chí số"]): r for r in rows(EXAMPLE / FILES["indicator_values"])}
    for r in rows(BROADBAND, ";"):
        values[(r["Mã xã"], "3.1")] = {"Giá trị": r["Tỷ lệ hộ có Internet cáp quang (%)"], "Đạt/Chưa đạt": ""}
    reported = {
        (r["Mã xã"], r["Chỉ tiêu"] or r["Tiêu chí số"]): r["Kết quả"] == "Đạt"
        for r in rows(EXAMPLE / FILES["commune_criteria"])
    }
    items = {}  # item -> (criterion, {group: (comparison, threshold)})
    for r in catalogue:
        item = r["Mã chỉ tiêu"] or r["Tiêu chí số"]
        items.setdefault(item, (r["Tiêu chí số"], {}))[1][r["Nhóm xã"]] = (r["So sánh"], number(r["Ngưỡng"]))

    def computed(commune, item):
        value = values.get((commune, item))
        rule = items[item][1].get(groups.get(commune)) or items[item][1].get("")
        if value is None or rule is None:
            return None
        comparison, threshold = rule
        if comparison == "yes_no":
            return value["Đạt/Chưa đạt"] == "Đạt"
        measured = number(value["Giá trị"])
        return {"at_least": measured >= threshold, "at_most": measured <= threshold}[comparison]

    communes = {code for code, _ in values}  # a measured value is enough to be assessed
    out = {}
    for commune in sorted(communes):
        status = {}
        for item, (criterion, _) in items.items():
            got = computed(commune, item)
            status.setdefault(criterion, []).append(got if got is not None else reported.get((commune, item)))
        met = [c for c, s in status.items() if all(v is True for v in s)]
        unmet = [c for c, s in status.items() if any(v is False for v in s)]
        out[commune] = {
            "group": groups.get(commune),
            "criteria_met": len(met),
            "unmet_criteria": ", ".join(sorted(unmet, key=int)) or None,
            "meets_standard": False if unmet else (True if len(met) == len(status) else None),
        }
    return out


def test_hand_computed_scorecards_and_counts_per_group(example_build):
    expected = expected_scorecards()
    got = duckdb.sql(
        f"select unit_code, commune_group, criteria_total, criteria_met, unmet_criteria, meets_standard "
        f"from '{example_build}/marts/fact_commune_scorecard.parquet' where criteria_set = 'VIDU_MINH_HOA'"
    ).fetchall()
    assert {
        r[0]: {"group": r[1], "criteria_met": r[3], "unmet_criteria": r[4], "meets_standard": r[5]} for r in got
    } == expected
    assert {r[2] for r in got} == {3}  # the set's size, from the catalogue of a set the reference does not know
    # Per group: communes assessed and communes meeting the set (group 3: Ba Sao only).
    per_group = duckdb.sql(
        f"select coalesce(commune_group, '?'), count(*), count(*) filter (where meets_standard) "
        f"from '{example_build}/marts/fact_commune_scorecard.parquet' "
        "where criteria_set = 'VIDU_MINH_HOA' group by 1 order by 1"
    ).fetchall()
    by_hand = {}
    for card in expected.values():
        entry = by_hand.setdefault(card["group"] or "?", [0, 0])
        entry[0] += 1
        entry[1] += card["meets_standard"] is True
    assert per_group == sorted((g, n, m) for g, (n, m) in by_hand.items())
    assert per_group == [("1", 1, 0), ("2", 2, 0), ("3", 2, 1), ("?", 7, 0)]  # 6 communes measured only by broadband


def test_no_data_is_not_not_met_and_the_reason_is_given(example_build):
    got = dict(
        duckdb.sql(
            f"select unit_code || ' ' || indicator_code, computed_status || ' ' || computed_reason "
            f"from '{example_build}/marts/fact_commune_assessment.parquet' where criteria_set = 'VIDU_MINH_HOA'"
        ).fetchall()
    )
    assert got["30103 1.1"] == "no_data no_group"  # 90 measured, but Tân Hội Trung has no group
    assert got["30100 1.2"] == "no_data no_value"  # not measured
    assert got["30085 3.1"] == "met measured"  # 76.9 % from the broadband file, group 3 needs 75
    assert got["30079 3.1"] == "not_met measured"  # 78.4 %, group 2 needs 80


def test_reported_and_computed_disagreements_are_kept_flagged_and_listed(example_build, tmp_path):
    assessment = f"{example_build}/marts/fact_commune_assessment.parquet"
    disagreeing = duckdb.sql(
        f"select unit_code, indicator_code, reported_status, computed_status, status from '{assessment}' "
        "where disagrees order by all"
    ).fetchall()
    assert disagreeing == [("30076", "", "met", "not_met", "not_met"), ("30079", "1.2", "met", "not_met", "not_met")]
    kept = duckdb.sql(
        f"select status, status_from from '{assessment}' where unit_code = '30100' and indicator_code = '1.2'"
    )
    assert kept.fetchall() == [("met", "reported")]  # nothing computed: the department's result counts
    result = validate_marts({"fact_commune_assessment": Path(assessment)}, example_build, "run-x")
    report = result.marts["fact_commune_assessment"]
    assert report.passed  # a disagreement is a warning: the data is published and the report lists it
    warning = next(c for c in report.failed_warnings if c.column == "disagrees")
    assert any("30076" in str(s) for s in warning.unexpected_sample)


def test_the_set_is_chosen_by_year(example_build):
    # The department wrote "ntm" for 2023: the example set, in force from 1 January 2023, replaces
    # 318/2022 in the test's lakehouse; the reported rows are assessed against it.
    sets = duckdb.sql(
        f"select distinct criteria_set from '{example_build}/marts/fact_commune_criteria.parquet'"
    ).fetchall()
    assert sets == [("VIDU_MINH_HOA",)]


def test_scorecard_command_prints_the_commune(example_build, capsys):
    code = cli.main(["--data-dir", str(example_build), "scorecard", "Ba Sao", "--province", "Đồng Tháp", "--json"])
    card = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (card["unit_code"], card["criteria_set"], card["criteria_met"], card["criteria_total"]) == (
        "30085",
        "VIDU_MINH_HOA",
        3,
        3,
    )
    assert card["meets_standard"] is True and card["unmet_criteria"] == [] and card["commune_group"] == "3"
    assert "digital_infrastructure: HaTangSo_HuyenCaoLanh_2023.csv" in card["sources"]
