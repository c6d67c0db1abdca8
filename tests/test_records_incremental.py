"""The big table: public-service records are built incrementally, one month at a time, and written
as Parquet partitioned by month; adding a month never rebuilds the months before it."""

import duckdb
from helpers import SAMPLES, drop, edited_contract

from ingest.run import ingest_dropzone
from ntm.transform import transform

DEPT = ("mot-cua-dong-thap", "public_service_records")
HEADER = (
    "Mã hồ sơ,Mã TTHC,Tên TTHC,Cấp giải quyết,Mã đơn vị,Đơn vị tiếp nhận,Ngày tiếp nhận,Ngày hẹn trả,"
    "Ngày trả kết quả,Hình thức nộp,Họ tên người nộp,Số CCCD,Số điện thoại"
)


def february(online: int) -> bytes:
    """12 applications at Xã Mỹ Thọ in February 2024, `online` of them submitted online."""
    rows = [
        f"000.00.30100.H20-2402-{i:04d},1.004227,Cấp giấy phép xây dựng nhà ở riêng lẻ,Xã,30100,Xã Mỹ Thọ,"
        f"05/02/2024,10/02/2024,08/02/2024,{'Trực tuyến' if i < online else 'Trực tiếp'},Nguyễn Văn A,"
        f"0{i:011d},09{i:08d}"
        for i in range(12)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def build(dropzone, data_dir, run_id):
    ingest_dropzone(dropzone, data_dir, run_id)
    assert transform(data_dir, docs=False).success


def records(data_dir):
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        by_month = dict(
            con.sql(
                "select period, min(loaded_through) from intermediate.int_public_service_records__current group by all"
            ).fetchall()
        )
        monthly = con.sql(
            "select period, applications_received, applications_online "
            "from intermediate.int_public_service_records__monthly where unit_key = '2024:commune:30100' "
            "and level = 'Xã'"
        ).fetchall()
    finally:
        con.close()
    return by_month, {p: (r, o) for p, r, o in monthly}


def test_adding_a_month_rebuilds_only_that_month(dropzone, data_dir):
    drop(dropzone, *DEPT, SAMPLES / DEPT[0] / DEPT[1] / "HoSo_MotCua_Thang01_2024.csv")
    build(dropzone, data_dir, "r1")
    lake = data_dir / "lake" / "public_service_records"
    january = lake / "period=2024-01" / "data_0.parquet"
    january_written = january.stat().st_mtime_ns
    months, _ = records(data_dir)
    assert list(months) == ["2024-01"]
    assert duckdb.sql(f"select count(*) from '{january}'").fetchone()[0] == 2000
    jan_loaded = months["2024-01"]

    build(dropzone, data_dir, "r1b")  # nothing new: nothing is rebuilt or rewritten
    assert records(data_dir)[0] == months and january.stat().st_mtime_ns == january_written

    drop(dropzone, *DEPT, name="HoSo_MotCua_Thang02_2024.csv", content=february(online=6))
    build(dropzone, data_dir, "r2")
    months, monthly = records(data_dir)
    assert months["2024-01"] == jan_loaded  # January's rows were not rebuilt
    assert months["2024-02"] > jan_loaded
    assert january.stat().st_mtime_ns == january_written  # nor its Parquet partition rewritten
    assert monthly["2024-02"] == (12, 6)
    partition = duckdb.sql(
        f"select count(*), count(*) filter (where channel = 'Trực tuyến') from '{lake}/period=2024-02/data_0.parquet'"
    ).fetchone()
    assert partition == (12, 6)
    # No personal data in the lake: the contract drops it at ingest.
    columns = duckdb.sql(f"select * from '{lake}/period=2024-02/data_0.parquet' limit 0").columns
    assert not {"applicant_name", "citizen_id", "phone"} & set(columns)

    # A corrected February (two more online) supersedes the first one: February only is redone.
    drop(dropzone, *DEPT, name="HoSo_MotCua_Thang02_2024_sua.csv", content=february(online=8))
    build(dropzone, data_dir, "r3")
    again, monthly = records(data_dir)
    assert again["2024-01"] == jan_loaded and again["2024-02"] > months["2024-02"]
    assert monthly["2024-02"] == (12, 8)
    assert january.stat().st_mtime_ns == january_written
    fact = duckdb.sql(
        f"select applications_received, applications_online from '{data_dir}/marts/"
        "fact_online_public_services.parquet' where source = 'records' and period = '2024-02' "
        "and unit_code = '30100' and level = 'Xã'"
    ).fetchall()
    assert fact == [(12, 8)]


def first_quarter(months: tuple[str, ...]) -> bytes:
    """Four applications at Xã Mỹ Thọ in each of the given months of 2024 ("01", "02", ...)."""
    rows = [
        f"000.00.30100.H20-24{m}-{i:04d},1.004227,Cấp giấy phép xây dựng nhà ở riêng lẻ,Xã,30100,Xã Mỹ Thọ,"
        f"05/{m}/2024,10/{m}/2024,08/{m}/2024,Trực tuyến,Nguyễn Văn A,0{i:011d},09{i:08d}"
        for m in months
        for i in range(4)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_a_month_dropped_by_a_correction_leaves_every_table(dropzone, data_dir):
    # A quarter's file, then its correction: February's applications were received in March after
    # all. The correction repeats every application id, so it supersedes the first file whole, and
    # February has no current rows left anywhere.
    drop(dropzone, *DEPT, name="HoSo_Quy1_2024.csv", content=first_quarter(("01", "02", "03")))
    build(dropzone, data_dir, "r1")
    lake = data_dir / "lake" / "public_service_records"
    assert records(data_dir)[1] == {"2024-01": (4, 4), "2024-02": (4, 4), "2024-03": (4, 4)}
    assert (lake / "period=2024-02").exists()

    redated = first_quarter(("01", "02", "03")).replace(b"/02/2024", b"/03/2024")
    drop(dropzone, *DEPT, name="HoSo_Quy1_2024_sua.csv", content=redated)
    build(dropzone, data_dir, "r2")
    months, monthly = records(data_dir)
    assert sorted(months) == ["2024-01", "2024-03"] and set(monthly) == {"2024-01", "2024-03"}
    assert not (lake / "period=2024-02").exists()
    assert duckdb.sql(f"select count(*) from read_parquet('{lake}/*/*.parquet')").fetchone()[0] == 12
    fact = duckdb.sql(
        f"select period from '{data_dir}/marts/fact_online_public_services.parquet' where source = 'records' order by 1"
    ).fetchall()
    assert fact == [("2024-01",), ("2024-03",)]


def test_a_file_that_stops_counting_with_nothing_in_its_place_leaves_its_months(
    dropzone, data_dir, tmp_path, monkeypatch
):
    # A quarter's file names its ids "Số hồ sơ"; another file of February counts beside it. The
    # contract stops taking that header, and a backfill reads the quarter's file again: rejected, it
    # no longer counts, and no row arrives in its place. Its months are rebuilt all the same:
    # February keeps the other file's rows only, in the table and in the lake; January is emptied.
    import datetime as dt

    from ingest.backfill import reingest_received

    quarter = first_quarter(("01", "02")).replace("Mã hồ sơ,".encode(), "Số hồ sơ,".encode(), 1)
    drop(dropzone, *DEPT, name="HoSo_Quy1_2024.csv", content=quarter)
    ingest_dropzone(dropzone, data_dir, "r1")
    between = dt.datetime.now(dt.UTC)  # the backfill reads the files received before this: the quarter's
    drop(dropzone, *DEPT, name="HoSo_Thang02_2024.csv", content=february(online=6).replace(b"H20-", b"H21-"))
    build(dropzone, data_dir, "r1b")
    assert records(data_dir)[1] == {"2024-01": (4, 4), "2024-02": (16, 10)}

    with edited_contract(tmp_path, monkeypatch, "public_service_records", "[Mã hồ sơ, Số hồ sơ,", "[Mã hồ sơ,"):
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        [again] = reingest_received(dropzone, data_dir, "backfill", today, between).files
        assert again.status == "rejected"
        build(dropzone, data_dir, "r2")
    months, monthly = records(data_dir)
    assert sorted(months) == ["2024-02"] and monthly == {"2024-02": (12, 6)}
    lake = data_dir / "lake" / "public_service_records"
    assert not (lake / "period=2024-01").exists()
    assert duckdb.sql(f"select count(*) from read_parquet('{lake}/*/*.parquet')").fetchone()[0] == 12
