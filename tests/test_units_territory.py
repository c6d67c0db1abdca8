"""A department's territory is its province on today's map, through time: files about years before
1 July 2025 resolve old units within the old provinces that merged into it (the 2025 crosswalk), later
files within today's province; a unit outside is held back, saying where it lies."""

from __future__ import annotations

import json

import duckdb
import pytest
from helpers import drop

from ingest.run import ingest_dropzone
from ntm_core.departments import province_of
from ntm_core.units import reference as ref
from ntm_core.units.resolver import index, resolve

HEADER = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"


def _old_provinces_of(today: str) -> set[str]:
    """The pre-2025 provinces the official crosswalk maps into today's province (computed here from
    the crosswalk rows, not from the resolver's own index)."""
    units = ref.units_by_key()
    olds = set()
    for row in ref.build_crosswalk():
        if row.old_key in units and row.new_key in units and units[units[row.new_key].province_key].name == today:
            olds.add(units[units[row.old_key].province_key].name)
    return olds


def test_the_crosswalk_says_which_old_provinces_each_department_covers():
    assert _old_provinces_of("Tỉnh Đồng Tháp") == {"Tỉnh Đồng Tháp", "Tỉnh Tiền Giang"}
    assert _old_provinces_of("Tỉnh Tuyên Quang") == {"Tỉnh Tuyên Quang", "Tỉnh Hà Giang"}
    assert province_of("so-khcn-dong-thap") == "Đồng Tháp" and province_of("so-khcn-tuyen-quang") == "Tuyên Quang"


@pytest.mark.parametrize(
    "department, old_province",
    [("so-khcn-dong-thap", "Tỉnh Tiền Giang"), ("so-khcn-tuyen-quang", "Tỉnh Hà Giang"), ("so-khcn-hue", None)],
)
def test_every_commune_of_a_merged_province_resolves_by_code_in_an_old_year(department, old_province):
    """Each commune of the old provinces merged into the department's province, by its code, in a
    2023 row; those of the province of the same name too."""
    units = ref.units_by_key()
    province = province_of(department)
    today = next(u for u in units.values() if u.list_version == ref.NEW and u.level == "province"
                 and u.short_name == province)  # fmt: skip
    olds = _old_provinces_of(today.name)
    if old_province:
        assert old_province in olds and len(olds) == 2
    communes = [u for u in units.values() if u.list_version == ref.OLD and u.level == "commune"
                and units[u.province_key].name in olds]  # fmt: skip
    assert communes
    wrong = [(u.code, r.reason) for u in communes if (r := resolve(None, code=u.code, date="2023-12-31",
             province=province)).status != "matched" or r.unit.key != u.key]  # fmt: skip
    assert wrong == []


def test_a_unit_of_a_third_province_is_held_back_saying_where_it_lies():
    got = resolve("Xã Mường Sại", province="Đồng Tháp", date="2023-12-31")
    assert got.status == "not_found" and got.outside == "Đồng Tháp"
    assert [c.key for c in got.candidates] == ["2024:commune:03709"]
    assert "Tỉnh Sơn La" in got.reason and "Tỉnh Tiền Giang" in got.reason  # where it is; what the province covers
    got = resolve(None, code="00745", province="Đồng Tháp", date="2023-12-31")  # Hà Giang: Tuyên Quang's, not ĐT's
    assert got.status == "not_found" and "Tỉnh Hà Giang" in got.reason


def test_later_files_resolve_within_today_s_province():
    assert resolve("Phường Mỹ Tho", province="Đồng Tháp", date="2026-03-01").unit.key == "2025:commune:28261"
    got = resolve("Xã Trịnh Tường", province="Đồng Tháp", date="2026-03-01")
    assert got.status == "not_found" and got.outside == "Đồng Tháp" and "Tỉnh Lào Cai" in got.reason
    # A Tiền Giang commune's old name in a 2026 file: pointed at what it became, never picked.
    got = resolve("Xã Thạnh Tân", province="Đồng Tháp", date="2026-03-01")
    assert got.status == "not_found" and [c.name for c in got.candidates] == ["Xã Tân Phước 2"]
    assert "Tỉnh Tiền Giang" in got.reason


def test_candidates_in_the_territory_come_first():
    # 'Phường 1' is in Mỹ Tho (Tiền Giang), Cao Lãnh and Sa Đéc (Đồng Tháp) and many other places.
    got = resolve("Phường 1", province="Đồng Tháp", date="2023-12-31")
    assert got.status == "ambiguous"
    provinces = [index().units[index().units[c.key].province_key].name for c in got.candidates]
    assert set(provinces) <= {"Tỉnh Đồng Tháp", "Tỉnh Tiền Giang"} and "Tỉnh Tiền Giang" in provinces


def _report(dropzone, department, name):
    path = dropzone / department / "_reports" / "digital_infrastructure" / f"{name}.report.json"
    return {p["row"]: p for p in json.loads(path.read_text())["problems"]}


def test_files_land_within_the_department_s_territory_through_time(dropzone, data_dir):
    dt, tq = "so-khcn-dong-thap", "so-khcn-tuyen-quang"
    rows_2023 = (
        "28324;Xã Tân Hòa Đông;2023;70\n"  # Tiền Giang, by code and name
        ";Xã Thạnh Tân;2023;60\n"  # Tiền Giang, by name alone
        "30085;Xã Ba Sao;2023;76,9\n"  # Đồng Tháp
        "03709;Xã Mường Sại;2023;50\n"  # Sơn La: held back
        ";Xã Phố Cáo;2023;40\n"  # Hà Giang: Tuyên Quang's, held back here
    )
    drop(dropzone, dt, "digital_infrastructure", name="HaTangSo_2023.csv", content=(HEADER + rows_2023).encode())
    drop(
        dropzone,
        dt,
        "digital_infrastructure",
        name="HaTangSo_2026.csv",
        content=(HEADER + "28261;Phường Mỹ Tho;2026;88\n02695;Xã Trịnh Tường;2026;30\n").encode(),
    )
    drop(
        dropzone,
        tq,
        "digital_infrastructure",
        name="HaTangSo_TQ_2023.csv",
        content=(HEADER + ";Xã Phố Cáo;2023;40\n00748;Xã Sính Lủng;2023;35\n28324;Xã Tân Hòa Đông;2023;70\n").encode(),
    )
    outcomes = {f.file_name: f for f in ingest_dropzone(dropzone, data_dir, "territory").files}
    assert {n: (o.status, o.rows_landed, o.rows_quarantined) for n, o in outcomes.items()} == {
        "HaTangSo_2023.csv": ("partly_landed", 3, 2),
        "HaTangSo_2026.csv": ("partly_landed", 1, 1),
        "HaTangSo_TQ_2023.csv": ("partly_landed", 2, 1),
    }
    bronze = duckdb.sql(
        f"select _department, _source_file, unit_code, unit_list_version, unit_name "
        f"from read_parquet('{data_dir}/bronze/digital_infrastructure/*.parquet', union_by_name=true) order by all"
    ).fetchall()
    assert bronze == [
        (dt, "HaTangSo_2023.csv", "28324", "2024", "Xã Tân Hòa Đông"),
        (dt, "HaTangSo_2023.csv", "28327", "2024", "Xã Thạnh Tân"),
        (dt, "HaTangSo_2023.csv", "30085", "2024", "Xã Ba Sao"),
        (dt, "HaTangSo_2026.csv", "28261", "2025", "Phường Mỹ Tho"),
        (tq, "HaTangSo_TQ_2023.csv", "00745", "2024", "Xã Phố Cáo"),
        (tq, "HaTangSo_TQ_2023.csv", "00748", "2024", "Xã Sính Lủng"),
    ]
    held = _report(dropzone, dt, "HaTangSo_2023.csv")
    assert "Đồng Tháp" in held[5]["en"] and "Tỉnh Sơn La" in held[5]["en"]  # where it lies
    assert "Tỉnh Hà Giang" in held[6]["en"]
    assert "Tỉnh Lào Cai" in _report(dropzone, dt, "HaTangSo_2026.csv")[3]["en"]
    assert "Tỉnh Tiền Giang" in _report(dropzone, tq, "HaTangSo_TQ_2023.csv")[4]["en"]
