"""The unified schema on the bundled samples: values computed from the sample files themselves."""

import csv
import os
import unicodedata

import duckdb
import pytest
from helpers import SAMPLES, copy_build

from ingest.run import ingest_dropzone
from ntm.transform import transform


@pytest.fixture
def built(sample_build):
    return sample_build


def mart(data_dir, name, where="true"):
    return duckdb.sql(f"select * from '{data_dir}/marts/{name}.parquet' where {where}").df()


def criteria_file():
    path = SAMPLES / "vp-ntm-dong-thap" / "commune_criteria" / "DanhGia_TieuChi_NTM_HuyenCaoLanh_2023.csv"
    text = unicodedata.normalize("NFC", path.read_bytes().decode("cp1258"))
    return list(csv.DictReader(text.splitlines(), delimiter=";"))


def test_full_online_share_of_the_province(built):
    _, data_dir = built
    row = mart(data_dir, "fact_online_public_services", "unit_key = '2024:province:87' and source = 'reported'")
    assert (row.full_online_procedures[0], row.procedures_total[0]) == (906, 1797)
    assert row.full_online_pct[0] == 50.4 == round(100 * 906 / 1797, 1)


def test_share_of_communes_meeting_8_4_and_average_criteria_met(built):
    _, data_dir = built
    rows = criteria_file()
    met = {"đạt", "x"}
    by_commune = {}
    for r in rows:
        by_commune.setdefault(r["Mã xã"], {}).setdefault(r["Tiêu chí số"], []).append(
            r["Kết quả"].strip().lower() in met
        )
    eight_four = {r["Mã xã"]: r["Kết quả"].strip().lower() in met for r in rows if r["Chỉ tiêu"] == "8.4"}
    expected_share = round(100 * sum(eight_four.values()) / len(eight_four), 1)
    expected_avg = sum(sum(all(v) for v in c.values()) for c in by_commune.values()) / len(by_commune)

    facts = mart(data_dir, "fact_commune_criteria", "province_code = '87' and indicator_code = '8.4'")
    assert round(100 * facts.met.sum() / len(facts), 1) == expected_share
    status = mart(data_dir, "fact_commune_ntm_status", "province_code = '87' and year = 2023")
    assert len(status) == len(by_commune)
    assert status.criteria_met.mean() == pytest.approx(expected_avg)
    assert set(status.recognised_level) == {"none"}  # no commune meets all 19 criteria in the sample


def test_a_set_whose_size_is_unknown_never_counts_as_met_in_full(built):
    # The advanced set lists only criteria 8 and 15 (those the program tracks): meeting both is not
    # meeting the set. Its size is unknown, so "meets all criteria" stays unknown.
    _, data_dir = built
    advanced = mart(data_dir, "fact_commune_ntm_status", "criteria_set = 'nang_cao'")
    assert len(advanced) == 3 and (advanced.criteria_met == 2).sum() == 2
    assert advanced.criteria_total.isna().all() and advanced.meets_all_criteria.isna().all()
    assert set(advanced.recognised_level) == {"none"}  # and no recognition decision is recorded
    ntm = mart(data_dir, "fact_commune_ntm_status", "criteria_set = 'ntm'")
    assert set(ntm.criteria_total) == {19}
    sets = duckdb.sql(
        f"select criteria_set, set_criteria_total from '{data_dir}/marts/dim_criterion.parquet' group by all order by 1"
    ).fetchall()
    assert sets == [("huyen", None), ("nang_cao", None), ("ntm", 19)]


def test_kpis_met_and_not_met(built):
    _, data_dir = built
    kpi = mart(data_dir, "kpi_program_targets")
    # Every target of Tây Ninh's plan 3306/KH-UBND (2023-2025), once for each year of the plan.
    assert len(kpi) == 12 * 3 and set(kpi.year) == {2023, 2024, 2025} and set(kpi.target_year) == {2025}
    y2024 = kpi[kpi.year == 2024].set_index("target_code")
    assert y2024.loc["communes_meeting_8_4_pct", "actual_value"] == 90.0  # 9 of 10 communes of Tân Biên
    assert y2024.loc["communes_meeting_8_4_pct", "measured_over"] == 10
    assert not y2024.loc["communes_meeting_8_4_pct", "met"]  # the plan asks for 97%
    assert y2024.loc["communes_meeting_8_4_advanced_pct", "actual_value"] == 66.7
    assert y2024.loc["communes_meeting_8_4_advanced_pct", "met"]  # 50% asked
    assert y2024.loc["work_records_online_commune_pct"].isna()["met"]  # nothing to measure it with yet
    assert y2024.loc["districts_meeting_9_5_pct", "measure_en"].startswith("Not measured")
    # Years with no data are kept, with an unknown result rather than a "not met".
    assert kpi[kpi.year == 2025].met.isna().all() and kpi[kpi.year == 2023].actual_value.isna().all()


def test_old_units_report_on_todays_provinces(built):
    _, data_dir = built
    rows = mart(data_dir, "fact_digital_infrastructure", "province_code = '87'")  # Đồng Tháp before July 2025
    assert len(rows) == 12
    assert set(rows.current_province_code) == {"82"}  # merged with Tiền Giang into today's Đồng Tháp
    assert set(rows.current_province_name) == {"Tỉnh Đồng Tháp"}
    tay_ninh = mart(data_dir, "fact_commune_criteria", "province_code = '72'")
    assert set(tay_ninh.current_province_code) == {"80"}  # Tây Ninh today has the code of old Long An
    by_today = duckdb.sql(
        f"select current_province_name, count(distinct unit_key) from "
        f"'{data_dir}/marts/fact_digital_infrastructure.parquet' group by 1 order by 1"
    ).fetchall()
    assert by_today == [("Tỉnh Sơn La", 11), ("Tỉnh Đồng Tháp", 12)]


def test_small_counts_from_personal_records_are_suppressed(built):
    _, data_dir = built
    survey = mart(data_dir, "fact_satisfaction_surveys", "unit_code = '30100'")
    assert survey.suppressed[0] and survey.isna().respondents[0] and survey.isna().satisfied_pct[0]
    records = mart(data_dir, "fact_online_public_services", "source = 'records'")
    assert (records.applications_received.dropna() >= 5).all()
    assert records.applications_received.sum() == 2000


def test_rebuilding_without_new_files_changes_nothing_and_a_correction_changes_only_its_rows(sample_build, tmp_path):
    dropzone, data_dir = copy_build(sample_build, tmp_path)
    before = {m: mart(data_dir, m) for m in ("fact_digital_infrastructure", "fact_commune_criteria")}
    assert transform(data_dir).success
    for name, frame in before.items():
        assert mart(data_dir, name).equals(frame)
    folder = dropzone / "so-khcn-dong-thap" / "digital_infrastructure"
    original = (folder / "HaTangSo_HuyenCaoLanh_2023.csv").read_bytes()
    (folder / "HaTangSo_HuyenCaoLanh_2023_sua.csv").write_bytes(
        original.replace("Xã Mỹ Thọ;2023;83,66".encode(), "Xã Mỹ Thọ;2023;84,10".encode())
    )
    os.utime(folder / "HaTangSo_HuyenCaoLanh_2023_sua.csv", (os.path.getmtime(folder) - 60,) * 2)
    ingest_dropzone(dropzone, data_dir, "r2")
    assert transform(data_dir).success
    after = mart(data_dir, "fact_digital_infrastructure")
    old = before["fact_digital_infrastructure"]
    changed = after.merge(old, how="outer", indicator=True).query("_merge != 'both'")
    assert sorted(changed.unit_code) == ["30100", "30100"]
    assert after.set_index("unit_code").loc["30100", "fixed_broadband_household_pct"] == 84.10


def test_reporting_periods_and_the_facts_that_refer_to_them(built):
    _, data_dir = built
    periods = mart(data_dir, "dim_period").set_index("period_key")
    assert len(periods) == 21 * (1 + 2 + 4 + 12)
    q1 = periods.loc["2024-Q1"]
    assert (q1.label_vi, q1.label_en, str(q1.start_date.date()), str(q1.end_date.date())) == (
        "Quý I/2024",
        "Q1 2024",
        "2024-01-01",
        "2024-03-31",
    )
    assert str(periods.loc["2024-02"].end_date.date()) == "2024-02-29"  # a leap year
    assert periods.loc["2023-H2"].label_vi == "6 tháng cuối năm 2023"
    for fact in ("fact_online_public_services", "fact_satisfaction_surveys"):
        assert set(mart(data_dir, fact).period) <= set(periods.index)


def test_dbt_docs_are_generated_with_the_bilingual_column_descriptions(built):
    import json
    import re

    _, data_dir = built
    page = (data_dir / "dbt_docs" / "static_index.html").read_text(encoding="utf-8")
    # The page embeds the manifest as JSON; the same text is the portal's data dictionary.
    manifest = json.loads((data_dir / "dbt_docs" / "manifest.json").read_text(encoding="utf-8"))
    node = manifest["nodes"]["model.ntm_lakehouse.fact_satisfaction_surveys"]
    description = node["columns"]["respondents"]["description"]
    assert description == "Số người trả lời (ẩn nếu dưới 5) / Respondents (hidden below 5)"
    assert json.dumps(description)[1:-1] in page or description in page
    assert re.search(r"dim_period", page)
