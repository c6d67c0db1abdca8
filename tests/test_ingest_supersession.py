"""A later file replaces what it reports again, no more: key by key (the contract's keys, the unit as
resolved at ingest), in the ledger (`rows_current`, `superseded_by`) and in dbt's current rows
alike. Two offices of one department sending the same month both count; a correction that repeats
every key still supersedes the earlier file whole; the later file's report says what it replaced."""

import datetime as dt
import json
import re

import duckdb
import pytest
from helpers import REPO, drop

from ingest import store
from ingest.backfill import reingest_received
from ingest.contract import all_contracts
from ingest.run import ingest_dropzone
from ingest.store import CURRENT_STATUSES, Ledger, current_key
from ntm.transform import transform

DI = ("so-khcn-dong-thap", "digital_infrastructure")
RECORDS = ("mot-cua-dong-thap", "public_service_records")
DI_HEADER = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
COMMUNES = {
    "30076": "Thị trấn Mỹ Thọ",
    "30079": "Xã Gáo Giồng",
    "30082": "Xã Phương Thịnh",
    "30085": "Xã Ba Sao",
    "30088": "Xã Phong Mỹ",
    "30091": "Xã Tân Nghĩa",
    "30094": "Xã Phương Trà",
    "30097": "Xã Nhị Mỹ",
    "30100": "Xã Mỹ Thọ",
    "30103": "Xã Tân Hội Trung",
}
RECORDS_HEADER = (
    "Mã hồ sơ,Mã TTHC,Tên TTHC,Cấp giải quyết,Mã đơn vị,Đơn vị tiếp nhận,Ngày tiếp nhận,Ngày hẹn trả,"
    "Ngày trả kết quả,Hình thức nộp,Họ tên người nộp,Số CCCD,Số điện thoại"
)
DISTRICT_OFFICE = ("Huyện", "873", "UBND huyện Cao Lãnh")
COMMUNE_OFFICE = ("Xã", "30085", "Xã Ba Sao")


def figures(values: dict[str, str], year: int = 2024) -> bytes:
    """A digital-infrastructure file: fibre share (Vietnamese decimals) per commune code."""
    return (DI_HEADER + "".join(f"{c};{COMMUNES[c]};{year};{v}\n" for c, v in values.items())).encode()


def applications(office: tuple[str, str, str], numbers: range, month: str = "03", moved: dict | None = None) -> bytes:
    """Applications at one office, received in `month` of 2024 (`moved`: number -> another month)."""
    level, code, name = office
    rows = []
    for i in numbers:
        m = (moved or {}).get(i, month)
        rows.append(
            f"000.00.{code}.H20-2403-{i:04d},1.004227,Cấp giấy phép xây dựng nhà ở riêng lẻ,{level},{code},{name},"
            f"05/{m}/2024,10/{m}/2024,08/{m}/2024,{'Trực tuyến' if i % 2 else 'Trực tiếp'},Nguyễn Văn A,"
            f"0{i:011d},09{i:08d}"
        )
    return ("\n".join([RECORDS_HEADER, *rows]) + "\n").encode()


def ledger(data_dir) -> dict[str, tuple]:
    """file name -> (status, rows landed, rows current, file name of superseded_by)."""
    rows = duckdb.sql(
        f"select f.file_name, f.status, f.rows_landed, f.rows_current, later.file_name "
        f"from '{data_dir}/ledger.parquet' f left join (select distinct sha256, file_name "
        f"from '{data_dir}/ledger.parquet') later on later.sha256 = f.superseded_by "
        "where f.status <> 'reprocessed'"
    ).fetchall()
    return {name: tuple(rest) for name, *rest in rows}


def mart(data_dir, name: str, columns: str, where: str = "true") -> list[tuple]:
    return duckdb.sql(f"select {columns} from '{data_dir}/marts/{name}.parquet' where {where} order by all").fetchall()


def report(dropzone, department: str, dataset: str, name: str) -> dict:
    return json.loads((dropzone / department / "_reports" / dataset / f"{name}.report.json").read_text())


def build(data_dir) -> None:
    result = transform(data_dir, docs=False)
    assert result.success, result.failures


def test_two_offices_of_one_department_and_month_both_count(dropzone, data_dir):
    """The district's one-stop office sends March, then a commune's office in the same department
    folder sends its own March: the district's 20 applications stay beside the commune's 30."""
    drop(
        dropzone,
        *RECORDS,
        name="HoSo_MotCua_UBNDHuyenCaoLanh_T03_2024.csv",
        content=applications(DISTRICT_OFFICE, range(20)),
    )
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *RECORDS, name="HoSo_MotCua_XaBaSao_T03_2024.csv", content=applications(COMMUNE_OFFICE, range(30)))
    [_, commune] = ingest_dropzone(dropzone, data_dir, "r2").files
    assert (commune.status, commune.report) == ("landed", None)  # it replaced nothing: no report
    assert ledger(data_dir) == {
        "HoSo_MotCua_UBNDHuyenCaoLanh_T03_2024.csv": ("landed", 20, 20, None),
        "HoSo_MotCua_XaBaSao_T03_2024.csv": ("landed", 30, 30, None),
    }
    build(data_dir)
    assert mart(
        data_dir,
        "fact_online_public_services",
        "unit_code, level, applications_received, applications_online",
        "source = 'records' and period = '2024-03'",
    ) == [("30085", "Xã", 30, 15), ("873", "Huyện", 20, 10)]


def test_two_sets_of_communes_figures_for_one_year_both_count(dropzone, data_dir):
    """Five communes' 2024 figures, then five other communes' 2024 figures: all ten in the mart."""
    first = {c: f"{70 + n},5" for n, c in enumerate(list(COMMUNES)[:5])}
    second = {c: f"{80 + n},25" for n, c in enumerate(list(COMMUNES)[5:])}
    drop(dropzone, *DI, name="HaTangSo_CumXa1_2024.csv", content=figures(first))
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *DI, name="HaTangSo_CumXa2_2024.csv", content=figures(second))
    ingest_dropzone(dropzone, data_dir, "r2")
    assert ledger(data_dir) == {
        "HaTangSo_CumXa1_2024.csv": ("landed", 5, 5, None),
        "HaTangSo_CumXa2_2024.csv": ("landed", 5, 5, None),
    }
    build(data_dir)
    expected = {c: float(v.replace(",", ".")) for c, v in (first | second).items()}
    assert dict(mart(data_dir, "fact_digital_infrastructure", "unit_code, fixed_broadband_household_pct")) == expected


def test_a_correction_repeating_every_key_supersedes_the_earlier_file_whole(dropzone, data_dir):
    values = {c: "75" for c in list(COMMUNES)[:5]}
    drop(dropzone, *DI, name="HaTangSo_2024.csv", content=figures(values))
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *DI, name="HaTangSo_2024_sua.csv", content=figures(values | {"30082": "76,5"}))
    ingest_dropzone(dropzone, data_dir, "r2")
    assert ledger(data_dir) == {
        "HaTangSo_2024.csv": ("superseded", 5, 0, "HaTangSo_2024_sua.csv"),
        "HaTangSo_2024_sua.csv": ("landed", 5, 5, None),
    }
    [note] = report(dropzone, *DI, "HaTangSo_2024_sua.csv")["notes"]
    assert note["en"].startswith("This file replaced 5 rows of HaTangSo_2024.csv")
    assert "every row of it that still counted" in note["en"] and "thay thế toàn bộ 5 dòng" in note["vi"]
    build(data_dir)
    assert dict(mart(data_dir, "fact_digital_infrastructure", "unit_code, fixed_broadband_household_pct")) == {
        c: 76.5 if c == "30082" else 75.0 for c in values
    }


def test_the_later_files_report_names_the_rows_it_replaced_and_their_file(dropzone, data_dir):
    """Three of five communes again, with two more: 3 rows of the first file are replaced, its
    other 2 still count; the later file, though it has no problem, gets a report saying so."""
    first = {c: "70" for c in list(COMMUNES)[:5]}
    drop(dropzone, *DI, name="HaTangSo_Dot1_2024.csv", content=figures(first))
    ingest_dropzone(dropzone, data_dir, "r1")
    again = {c: "90" for c in list(COMMUNES)[2:7]}
    drop(dropzone, *DI, name="HaTangSo_Dot2_2024.csv", content=figures(again))
    [_, later] = ingest_dropzone(dropzone, data_dir, "r2").files
    assert later.status == "landed" and later.report.endswith("HaTangSo_Dot2_2024.csv.report.html")
    assert ledger(data_dir) == {
        "HaTangSo_Dot1_2024.csv": ("landed", 5, 2, "HaTangSo_Dot2_2024.csv"),
        "HaTangSo_Dot2_2024.csv": ("landed", 5, 5, None),
    }
    written = report(dropzone, *DI, "HaTangSo_Dot2_2024.csv")
    assert written["status"] == "landed" and written["problems"] == []
    [note] = written["notes"]
    assert note["value"] == "HaTangSo_Dot1_2024.csv" and note["column"] == "unit_code, year"
    assert note["vi"].startswith("Tệp này thay thế 3 dòng của tệp HaTangSo_Dot1_2024.csv")
    assert note["en"].startswith("This file replaced 3 rows of HaTangSo_Dot1_2024.csv")
    assert "Administrative unit code, Reference year" in note["en"] and "still count" in note["fix_en"]
    html = (dropzone / DI[0] / "_reports" / DI[1] / "HaTangSo_Dot2_2024.csv.report.html").read_text()
    assert "thay thế 3 dòng" in html and "replaced 3 rows" in html
    assert duckdb.sql(
        f"select report_path from '{data_dir}/ledger.parquet' where file_name = 'HaTangSo_Dot2_2024.csv'"
    ).fetchone() == (later.report,)
    build(data_dir)
    assert dict(mart(data_dir, "fact_digital_infrastructure", "unit_code, fixed_broadband_household_pct")) == {
        c: 90.0 if c in again else 70.0 for c in first | again
    }


def _dbt_current(data_dir, dataset: str) -> dict[tuple[str, str], int]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        return dict(
            ((d, s), n)
            for d, s, n in con.sql(
                f"select department, source_sha256, count(*) from intermediate.int_{dataset}__current group by all"
            ).fetchall()
        )
    finally:
        con.close()


def _ledger_current(data_dir, dataset: str) -> dict[tuple[str, str], int]:
    """(department, sha256) -> rows_current of the files whose rows count, as the ledger says; and
    checked against the ledger counted again from scratch."""
    said = {
        (d, s): n
        for d, s, n in duckdb.sql(
            f"select department, sha256, rows_current from '{data_dir}/ledger.parquet' "
            f"where dataset = '{dataset}' and list_contains({list(CURRENT_STATUSES)}, status)"
        ).fetchall()
    }
    ledger_ = Ledger(data_dir)
    with ledger_.connect() as con:
        counted = ledger_.current_rows_by_file(con, dataset)
    assert {k: n for k, n in said.items() if n} == counted
    return counted


def _agree(data_dir) -> dict[str, dict[str, int]]:
    """dbt's current rows per file are the ledger's, for both datasets: file name -> rows current."""
    files = duckdb.sql(f"select department, sha256, file_name from '{data_dir}/ledger.parquet'").fetchall()
    names = {(d, s): name for d, s, name in files}
    by_name = {}
    for dataset in ("digital_infrastructure", "public_service_records"):
        current = _ledger_current(data_dir, dataset)
        assert _dbt_current(data_dir, dataset) == current, dataset
        by_name[dataset] = {names[k]: n for k, n in current.items()}
    return by_name


def test_dbt_current_rows_are_the_rows_the_ledger_counts(dropzone, data_dir):
    """Files that overlap in part, a correction from another department, an application moved to
    another month by a correction; then everything read again in a backfill. Each time, dbt's
    current rows per file (the incremental big table too) are the ledger's `rows_current`."""
    codes = list(COMMUNES)
    drop(dropzone, *DI, name="a.csv", content=figures({c: "70" for c in codes[:5]}))
    drop(dropzone, *DI, name="b.csv", content=figures({c: "71" for c in codes[5:]}))
    drop(dropzone, *RECORDS, name="huyen.csv", content=applications(DISTRICT_OFFICE, range(20)))
    drop(dropzone, *RECORDS, name="xa.csv", content=applications(COMMUNE_OFFICE, range(30)))
    ingest_dropzone(dropzone, data_dir, "r1")
    build(data_dir)
    assert _agree(data_dir) == {
        "digital_infrastructure": {"a.csv": 5, "b.csv": 5},
        "public_service_records": {"huyen.csv": 20, "xa.csv": 30},
    }

    drop(dropzone, *DI, name="c.csv", content=figures({c: "80" for c in [*codes[2:5], codes[5]]}))
    drop(dropzone, "so-nnmt-dong-thap", DI[1], name="d.csv", content=figures({codes[6]: "90", codes[9]: "91"}))
    # The district's correction: five of its applications were received in April after all.
    april = applications(DISTRICT_OFFICE, range(5), moved=dict.fromkeys(range(5), "04"))
    drop(dropzone, *RECORDS, name="huyen_sua.csv", content=april)
    ingest_dropzone(dropzone, data_dir, "r2")
    build(data_dir)  # the big table built incrementally: April, and March, where they were
    expected = {
        "digital_infrastructure": {"a.csv": 2, "b.csv": 2, "c.csv": 4, "d.csv": 2},
        "public_service_records": {"huyen.csv": 15, "xa.csv": 30, "huyen_sua.csv": 5},
    }
    assert _agree(data_dir) == expected
    moved = mart(
        data_dir,
        "fact_online_public_services",
        "period, applications_received",
        "source = 'records' and unit_code = '873' and level = 'Huyện'",
    )
    assert moved == [("2024-03", 15), ("2024-04", 5)]  # in April, no longer in March
    di_before = mart(data_dir, "fact_digital_infrastructure", "unit_code, fixed_broadband_household_pct, department")

    # Everything read again: each reading keeps its file's place in time, so nothing changes.
    now = dt.datetime.now(dt.UTC)
    reingest_received(dropzone, data_dir, "backfill", now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    build(data_dir)
    assert _agree(data_dir) == expected
    assert mart(data_dir, "fact_digital_infrastructure", "unit_code, fixed_broadband_household_pct, department") == (
        di_before
    )


def test_a_ledger_written_before_rows_current_is_counted_when_opened(dropzone, data_dir):
    drop(dropzone, *DI, name="a.csv", content=figures({c: "70" for c in list(COMMUNES)[:5]}))
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *DI, name="b.csv", content=figures({c: "71" for c in list(COMMUNES)[3:6]}))
    ingest_dropzone(dropzone, data_dir, "r2")
    with duckdb.connect(str(data_dir / "ledger.duckdb")) as con:
        con.execute("ALTER TABLE files DROP COLUMN rows_current")
    ledger_ = Ledger(data_dir)
    with ledger_.connect() as con:
        counted = con.execute("SELECT file_name, rows_current FROM files ORDER BY file_name").fetchall()
    assert counted == [("a.csv", 3), ("b.csv", 3)]


# How a ledger's key index may not be this DuckDB's: not there yet, or hashed by another version
# (whose hash() may differ: here, every stored hash is off by one).
OLD_INDEXES = {
    "written before the index": "DROP TABLE file_keys; DROP TABLE file_keys_hashed_by",
    "hashed by another DuckDB": "UPDATE file_keys SET key_hash = key_hash + 1; "
    "UPDATE file_keys_hashed_by SET duckdb_version = '0.9.0'",
}


@pytest.mark.parametrize("old_index", sorted(OLD_INDEXES))
@pytest.mark.parametrize("index_max_rows", [100_000, 3, 0])
def test_a_ledger_with_an_old_key_index_still_supersedes(dropzone, data_dir, monkeypatch, index_max_rows, old_index):
    """A landing file reads only the files its keys index says share a key with it, and every file
    too large to index: a ledger written before the index, or whose keys another DuckDB hashed, has
    its current files indexed when opened, so a correction still replaces them; a file that stops
    counting leaves the index. (3 rows: the five-row files are not indexed, the two-row one is; 0:
    none is.)"""
    monkeypatch.setattr(store, "KEY_INDEX_MAX_ROWS", index_max_rows)
    drop(dropzone, *DI, name="a.csv", content=figures({c: "70" for c in list(COMMUNES)[:5]}))
    drop(dropzone, *DI, name="b.csv", content=figures({c: "71" for c in list(COMMUNES)[5:]}))
    ingest_dropzone(dropzone, data_dir, "r1")
    with duckdb.connect(str(data_dir / "ledger.duckdb")) as con:
        con.execute(OLD_INDEXES[old_index])
    drop(dropzone, *DI, name="c.csv", content=figures({c: "72" for c in list(COMMUNES)[3:5]}))
    drop(dropzone, *DI, name="d.csv", content=figures({c: "73" for c in list(COMMUNES)[5:]}))
    ingest_dropzone(dropzone, data_dir, "r2")
    assert ledger(data_dir) == {
        "a.csv": ("landed", 5, 3, "c.csv"),
        "b.csv": ("superseded", 5, 0, "d.csv"),
        "c.csv": ("landed", 2, 2, None),
        "d.csv": ("landed", 5, 5, None),
    }
    with duckdb.connect(str(data_dir / "ledger.duckdb")) as con:
        indexed = con.execute(
            "SELECT f.file_name, count(*) FROM file_keys k JOIN files f USING (department, dataset, sha256) "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert indexed == [
        (name, rows) for name, rows in [("a.csv", 5), ("c.csv", 2), ("d.csv", 5)] if rows <= index_max_rows
    ]


@pytest.mark.parametrize("index_max_rows", [100_000, 0])
def test_files_whose_keys_range_apart_from_the_others_count_whole_and_one_within_it_is_compared(
    dropzone, data_dir, monkeypatch, index_max_rows
):
    """Applications (one key, the application id): a file whose ids all lie outside the other files'
    range counts whole without being compared (0: no file is indexed); a file whose ids interleave
    with theirs is compared key by key, and replaces only the ids it shares."""
    monkeypatch.setattr(store, "KEY_INDEX_MAX_ROWS", index_max_rows)
    drop(dropzone, *RECORDS, name="a.csv", content=applications(COMMUNE_OFFICE, range(1, 6)))
    drop(dropzone, *RECORDS, name="b.csv", content=applications(COMMUNE_OFFICE, range(6, 11)))
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *RECORDS, name="c.csv", content=applications(COMMUNE_OFFICE, range(4, 8)))
    ingest_dropzone(dropzone, data_dir, "r2")
    drop(dropzone, *RECORDS, name="d.csv", content=applications(COMMUNE_OFFICE, range(11, 13)))
    drop(dropzone, *RECORDS, name="e.csv", content=applications(COMMUNE_OFFICE, [0, 13]))  # spans all, shares none
    ingest_dropzone(dropzone, data_dir, "r3")
    assert ledger(data_dir) == {
        "a.csv": ("landed", 5, 3, "c.csv"),
        "b.csv": ("landed", 5, 3, "c.csv"),
        "c.csv": ("landed", 4, 4, None),
        "d.csv": ("landed", 2, 2, None),
        "e.csv": ("landed", 2, 2, None),
    }


def _staging_renames(dataset: str) -> dict[str, str]:
    """name in the staging model -> bronze column (`criteria_set as criteria_set_reported`)."""
    sql = (REPO / "dbt_project" / "models" / "staging" / f"stg_bronze__{dataset}.sql").read_text()
    return {alias: column for column, alias in re.findall(r"^\s*(?:\w+\()?(\w+)\b[^\n]* as (\w+),?$", sql, re.M)}


def _dbt_keys(dataset: str) -> list[str]:
    """The key dbt's current model partitions by, as bronze columns (unit_key: the resolved unit)."""
    sql = (REPO / "dbt_project" / "models" / "intermediate" / f"int_{dataset}__current.sql").read_text()
    call = re.search(r"current_rows\(\s*'stg_bronze__(\w+)',\s*'(\w+)',\s*\[(.*?)\]\s*\)", sql, re.S)
    if call:
        assert call.group(1) == call.group(2) == dataset
        keys = re.findall(r"'rows\.(\w+)'", call.group(3))
    else:  # a model of its own (the one-stop applications): the keys it hands to first_per_key
        keys = re.findall(r"'(\w+)'", re.search(r"first_per_key\('\w+', '\w+', \[(.*?)\]\)", sql).group(1))
    renames = _staging_renames(dataset)
    return [renames.get(k, k) for k in keys]


@pytest.mark.parametrize("dataset", sorted(all_contracts()))
def test_dbt_partitions_current_rows_by_the_ledgers_key(dataset):
    """One key per dataset, in both places: the contract's keys with the unit as resolved at ingest
    (ingest.store.current_key) are the columns dbt's current model partitions by."""
    contract = all_contracts()[dataset]
    unit_key = re.search(
        r"^\s*(.+?) as unit_key,$", (REPO / "dbt_project" / "macros" / "lineage.sql").read_text(), re.M
    ).group(1)
    assert [unit_key if k == "unit_key" else k for k in _dbt_keys(dataset)] == [
        k.strip('"') for k in current_key(contract)
    ]
