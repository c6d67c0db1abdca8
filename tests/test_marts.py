"""The unified schema on the bundled samples: values computed from the sample files themselves."""

import csv
import json
import os
import unicodedata

import duckdb
import pytest
from helpers import REPO, SAMPLES, copy_build

from ingest.run import ingest_dropzone
from ntm import cli
from ntm.transform import transform

SEEDS = REPO / "dbt_project" / "seeds" / "reference"


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
    cards = mart(data_dir, "fact_commune_scorecard", "province_code = '87' and year = 2023")
    assert len(cards) == len(by_commune) and set(cards.criteria_set) == {"NTM_XA_2021_2025"}  # "ntm" in 2023
    assert cards.criteria_met.mean() == pytest.approx(expected_avg)
    assert set(cards.recognised_level) == {"none"}  # no commune meets all 19 criteria in the sample


def test_meeting_the_listed_criteria_of_a_set_is_not_meeting_the_set(built):
    # The sources list criteria 8 and 15 of the advanced set's 19: meeting both is not meeting the
    # set, and with 17 criteria unknown "meets the standard" stays unknown rather than false.
    _, data_dir = built
    advanced = mart(data_dir, "fact_commune_scorecard", "criteria_set = 'NTM_XA_NANGCAO_2021_2025'")
    assert len(advanced) == 3 and (advanced.criteria_met == 2).sum() == 2
    assert set(advanced.criteria_total) == {19}
    assert advanced[advanced.criteria_not_met == 0].meets_standard.isna().all()
    assert set(advanced.recognised_level) == {"none"}  # and no recognition decision is recorded
    reference = {r["set_id"]: r["criteria_count"] for r in csv.DictReader(open(SEEDS / "criteria_sets.csv"))}
    sets = duckdb.sql(
        f"select criteria_set, any_value(set_criteria_total) from '{data_dir}/marts/dim_criterion.parquet' group by 1"
    ).fetchall()
    assert {s: str(n) if n is not None else "" for s, n in sets} == {s: reference[s] for s, _ in sets}


def test_the_reference_seeds_are_the_shared_reference_files():
    shared = REPO.parent / "shared" / "reference"
    if not shared.exists():
        pytest.skip("../shared/reference is not on this machine")
    for name in ("criteria_sets.csv", "criteria.csv", "commune_groups.csv", "program_targets.csv", "SOURCES.md"):
        assert (SEEDS / name).read_bytes() == (shared / name).read_bytes(), f"copy ../shared/reference/{name}"


def test_scorecard_of_one_commune_of_each_assessed_province(built, capsys):
    _, data_dir = built
    tay_ninh = list(
        csv.DictReader(
            (SAMPLES / "vp-ntm-tay-ninh" / "commune_criteria")
            .iterdir()
            .__next__()
            .read_text(encoding="utf-8-sig")
            .splitlines()
        )
    )
    cases = {
        ("Ba Sao", "Đồng Tháp", "ntm"): [r for r in criteria_file() if r["Tên xã"] == "Xã Ba Sao"],
        ("Tân Lập", "Tây Ninh", "nang_cao"): [
            r for r in tay_ninh if r["Tên xã"] == "Xã Tân Lập" and r["Bộ tiêu chí"] == "nang_cao"
        ],
    }
    for (name, province, tier), raw in cases.items():
        assert (
            cli.main(["--data-dir", str(data_dir), "scorecard", name, "--province", province, "--set", tier, "--json"])
            == 0
        )
        card = json.loads(capsys.readouterr().out)
        results = {}
        for r in raw:  # a criterion is met when every row about it is
            results.setdefault(r["Tiêu chí số"], []).append(r["Kết quả"].strip().lower() in {"đạt", "x"})
        unmet = sorted((c for c, v in results.items() if not all(v)), key=int)
        assert card["unit_code"] == raw[0]["Mã xã"] and card["year"] == int(raw[0]["Năm đánh giá"])
        assert card["criteria_met"] == sum(all(v) for v in results.values())
        assert card["unmet_criteria"] == unmet
        assert card["criteria_total"] == 19 and card["meets_standard"] is (False if unmet else None)
        assert card["recognised_level"] == "none"
    # Two communes of Tây Ninh were called Tân Bình: the command names both and answers nothing.
    assert cli.main(["--data-dir", str(data_dir), "scorecard", "Tân Bình", "--province", "Tây Ninh"]) == 1
    listed = capsys.readouterr().err
    assert "2024:commune:25474" in listed and "2024:commune:25495" in listed


def test_every_province_with_criteria_data_against_target_924_on_indicator_8_4(built):
    _, data_dir = built
    kpi = mart(data_dir, "kpi_program_targets", "target_code = '924.CQS.4'")
    kpi = kpi[kpi.actual_value.notna()].set_index("province_code")  # the years with criteria data
    assessed = {"87": {r["Mã xã"] for r in criteria_file() if r["Chỉ tiêu"] == "8.4"}}
    tay_ninh = next((SAMPLES / "vp-ntm-tay-ninh" / "commune_criteria").iterdir()).read_text(encoding="utf-8-sig")
    assessed["72"] = {r["Mã xã"] for r in csv.DictReader(tay_ninh.splitlines()) if r["Bộ tiêu chí"] == "ntm"}
    for province, communes in assessed.items():
        row = kpi.loc[province]
        assert row.measured_over == len(communes) and row.target_value == 97 and row.scope == "national"
        assert not row.met  # neither sample reaches 97 %
    assert kpi.loc["72", "actual_value"] == 90.0  # 9 of 10 communes of Tân Biên


def test_provincial_plans_and_national_targets_side_by_side(built):
    _, data_dir = built
    kpi = mart(data_dir, "kpi_program_targets", "province_code = '72' and year = 2024").set_index("target_code")
    assert kpi.loc["TNI.CQS.4", "scope"] == "province" and kpi.loc["TNI.CQS.4", "actual_value"] == 90.0
    assert kpi.loc["TNI.CQS.5", "actual_value"] == 66.7 and kpi.loc["TNI.CQS.5", "met"]  # 50 % asked
    assert kpi.loc["TNI.CQS.1"].isna()["met"]  # nothing to measure it with yet: unknown, not "not met"
    assert kpi.loc["TNI.CQS.7", "method_en"].startswith("Not measured")
    assert kpi.loc["263.XA.1", "measured_over"] == 10
    # Every national target applies to every province with data; no other province's plan does.
    national = {
        r["target_code"]
        for r in csv.DictReader(open(SEEDS / "program_targets.csv"))
        if r["level"] == "national" and not r["region"]
    }
    assert national <= set(kpi.index)
    assert not any(code.startswith(("TNG.", "TGI.", "DNG.", "BDG.", "DTP.")) for code in kpi.index)
    assert kpi.region_code.isna().all()  # no commune_groups file says Tây Ninh's region: unknown


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


def test_builds_send_no_usage_events_to_dbt_labs(sample_build):
    """dbt reports every invocation to dbt Labs unless told not to (dbt_project.yml `flags`); a
    government platform's builds stay here."""
    _, data_dir = sample_build
    log = (data_dir / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Running with dbt" in log
    assert "'send_anonymous_usage_stats': 'False'" in log
    assert "Sending event" not in log


def test_a_process_keeps_dbts_parsed_project_while_the_project_and_its_inputs_stay_the_same(sample_build):
    """A long-lived process (a worker, `ntm watch`) parses the dbt project once: loading it costs
    about a second per build even when partial parsing finds nothing changed. Other vars are
    another parse, whose manifest replaces the first."""
    from ntm import transform

    _, data_dir = sample_build
    models = ["ls", "--quiet", "--resource-type", "model", "--output", "name"]
    listed = transform.run_dbt(models, data_dir, target="dbt_ls")
    [first] = transform._PARSED.values()
    again = transform.run_dbt(models, data_dir, target="dbt_ls")
    assert next(iter(transform._PARSED.values())) is first
    assert "fact_commune_scorecard" in listed.result and sorted(again.result) == sorted(listed.result)
    frozen = transform.run_dbt([*models, "--vars", '{"as_of": "2025-06-30"}'], data_dir, target="dbt_ls")
    [other] = transform._PARSED.values()
    assert other is not first and sorted(frozen.result) == sorted(listed.result)


def test_the_next_process_reads_the_parse_the_last_one_saved_and_only_the_same_parse(
    sample_build, tmp_path, monkeypatch
):
    """A fresh process (`ntm run`, an Airflow task) reads the project as the last process parsed it
    (dbt's partial parsing takes about 0.8 s to find nothing changed); another parse (other vars, a
    changed project, another dbt) or a damaged file is parsed again."""
    import subprocess
    import sys

    from ntm import transform

    _, data_dir = copy_build(sample_build, tmp_path)
    saved = transform.saved_parse(data_dir, "local")
    saved.unlink(missing_ok=True)
    models = ["ls", "--quiet", "--resource-type", "model", "--output", "name"]
    parse, parses = transform._parse, []
    monkeypatch.setattr(transform, "_parse", lambda *args: parses.append(args) or parse(*args))

    transform._PARSED.clear()
    listed = sorted(transform.run_dbt(models, data_dir, target="dbt_ls").result)
    assert len(parses) == 1 and saved.exists()
    transform._PARSED.clear()  # as in a new process
    assert sorted(transform.run_dbt(models, data_dir, target="dbt_ls").result) == listed
    assert len(parses) == 1  # read, not parsed
    transform._PARSED.clear()
    frozen = transform.run_dbt([*models, "--vars", '{"as_of": "2025-06-30"}'], data_dir, target="dbt_ls")
    assert sorted(frozen.result) == listed and len(parses) == 2  # other vars: parsed, and saved
    digest = saved.read_bytes().split(b"\n", 1)[0]
    saved.write_bytes(digest + b"\nnot a manifest")
    transform._PARSED.clear()
    assert sorted(transform.run_dbt([*models, "--vars", '{"as_of": "2025-06-30"}'], data_dir).result) == listed
    assert len(parses) == 3  # the damaged file: parsed again

    # A real new process builds everything from the saved parse (every ref, source, macro, data and
    # unit test compiled from it), without dbt parsing at all.
    transform._PARSED.clear()
    assert transform.run_dbt(models, data_dir, target="dbt_ls").success  # saves the parse without vars
    transform._PARSED.clear()  # no other test reuses this data dir's parse
    script = (
        "import sys; from pathlib import Path; from ntm import transform\n"
        "def no_parse(*args): raise SystemExit('parsed again')\n"
        "transform._parse = no_parse\n"
        "res = transform.transform(Path(sys.argv[1]), docs=False)\n"
        "sys.exit(0 if res.success else 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(data_dir)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    assert statuses["model.ntm_lakehouse.fact_commune_scorecard"] == "success"
    assert any(node.startswith("unit_test.") for node in statuses)
    assert set(statuses.values()) <= {"success", "pass"}, statuses


def test_a_build_writes_its_run_results_and_the_manifest_only_when_the_parse_it_describes_changed(
    sample_build, tmp_path
):
    """dbt writes its manifest (megabytes) after every build; here a build writes it only when it is
    missing or of another parse, and its run results every time."""
    from ntm import transform

    _, data_dir = copy_build(sample_build, tmp_path)
    target = data_dir / "dbt_target"
    manifest, run_results = target / "manifest.json", target / "run_results.json"

    def build(model: str) -> list[str]:
        run_results.unlink(missing_ok=True)
        assert transform.run_dbt(["build", "--quiet", "--select", model], data_dir).success
        return sorted(r["unique_id"] for r in json.loads(run_results.read_text(encoding="utf-8"))["results"])

    assert build("dim_period")[0] == "model.ntm_lakehouse.dim_period"  # another data dir: another parse
    written = manifest.stat().st_mtime_ns
    assert "model.ntm_lakehouse.dim_period" in json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    assert "model.ntm_lakehouse.dim_criterion" in build("dim_criterion")
    assert manifest.stat().st_mtime_ns == written  # the same parse: not written again
    manifest.unlink()
    build("dim_period")
    assert "model.ntm_lakehouse.dim_criterion" in json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    rewritten = manifest.stat().st_mtime_ns
    (target / transform.MANIFEST_KEY).write_text("a parse of another project")
    build("dim_period")
    assert manifest.stat().st_mtime_ns > rewritten
    # A build that stops before it has results (here its vars cannot be read) leaves none behind,
    # rather than the last build's results for whoever debugs it.
    assert run_results.exists()
    assert not transform.run_dbt(["build", "--select", "dim_period", "--vars", "{as_of: ["], data_dir).success
    assert not run_results.exists()
