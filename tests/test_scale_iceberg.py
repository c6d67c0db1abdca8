"""The lake as Iceberg tables: a small data dir shaped like the pipeline's (bronze files of two
departments, the records lake by period, a fact and a dimension mart) is written through the SQL
catalog, then read back by a second reader (pyiceberg's scan into Arrow, and DuckDB over that Arrow)
and compared with the Parquet it came from, value by value."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import quote_plus

import duckdb
import pyarrow.parquet as pq
import pytest
from pyiceberg.types import TimestamptzType

from ntm.iceberg import duckdb_relation, lake_catalog, read_table, write_lake_tables

pytestmark = pytest.mark.scale

LINEAGE = "'{dep}' as _department, '{dep}/f.xlsx' as _source_file, 'abc' as _sha256, i::bigint as _row_number"
# The departments of the files below and their provinces in ingest/departments.yaml (one is not in it).
PROVINCES = {"so-khcn-dong-thap": "Đồng Tháp", "so-khcn-son-la": "Sơn La", "mot-cua-dong-thap": "Đồng Tháp"}
FIRST_INGESTED = dt.datetime(2024, 3, 1, 1, 30, 0, 123456, tzinfo=dt.UTC)  # 08:30:00.123456+07


def _copy(con: duckdb.DuckDBPyConnection, sql: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({sql}) to '{target}' (format parquet)")


def _bronze(con, data_dir: Path, dep: str, years: str, extra: bool = False) -> None:
    """A landed file of digital_infrastructure (two years), one of satisfaction_surveys (quarters)."""
    lineage = LINEAGE.format(dep=dep)
    ingested = "timestamptz '2024-03-01 08:30:00.123456+07' + to_seconds(i)"
    _copy(
        con,
        f"select 'Xã ' || i as unit_name, (30000 + i)::varchar as unit_code, y::integer as year, "
        f"i * 1.5 as fixed_broadband_household_pct, i::bigint as free_wifi_points, 'commune' as unit_level, "
        f"'2024' as unit_list_version, {lineage}, {ingested} as _ingested_at, 'run-1' as _run_id"
        + (", 'new' as survey_round" if extra else "")
        + f" from range(5) r(i), (values {years}) y(y)",
        data_dir / "bronze" / "digital_infrastructure" / f"{dep}__{re.sub(r'[^0-9]', '', years)}.parquet",
    )
    _copy(
        con,
        f"select (30000 + i)::varchar as unit_code, 'Xã ' || i as unit_name, '2024-Q' || (1 + i % 2) as period, "
        f"i % 2 = 0 as online, (10 * i)::bigint as respondents, 'commune' as unit_level, "
        f"'2024' as unit_list_version, {lineage}, {ingested} as _ingested_at, 'run-1' as _run_id from range(4) r(i)",
        data_dir / "bronze" / "satisfaction_surveys" / f"{dep}__1.parquet",
    )


def build_data_dir(data_dir: Path) -> Path:
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Ho_Chi_Minh'")  # the writer must not depend on the session's zone
    _bronze(con, data_dir, "so-khcn-dong-thap", "(2023), (2024)")
    _bronze(con, data_dir, "so-khcn-son-la", "(2024)")
    _bronze(con, data_dir, "not-registered", "(2024)")
    bronze = data_dir / "bronze" / "digital_infrastructure"
    _copy(con, f"select * from '{bronze}/so-khcn-son-la__*.parquet' limit 0", bronze / "empty.parquet")
    for month in ("2024-01", "2024-02"):
        _copy(
            con,
            f"select '2024:commune:' || (30000 + i % 7) as unit_key, (30000 + i % 7)::varchar as unit_code, "
            f"'{month}-' || i as record_id, date '{month}-01' + (i % 20)::integer as received_date, "
            f"(['mot-cua-dong-thap', 'so-khcn-son-la'])[1 + i % 2] as department, "
            f"timestamptz '{month}-28 23:59:59.999999+07' as ingested_at from range(60) r(i)",
            data_dir / "lake" / "public_service_records" / f"period={month}" / "data_0.parquet",
        )
    _copy(
        con,
        "select '2024:commune:' || (30000 + i) as unit_key, (['87', '14', '87'])[1 + i % 3] as province_code, "
        "(2023 + i % 2)::integer as year, i * 0.5 as internet_user_pct, i::bigint as free_wifi_points, "
        "date '2024-01-01' + i::integer as as_of from range(30) r(i)",
        data_dir / "marts" / "fact_digital_infrastructure.parquet",
    )
    _copy(
        con,
        "select 'ntm_2021:' || i as criterion_key, 'Tiêu chí ' || i as criterion_name_vi from range(19) r(i)",
        data_dir / "marts" / "dim_criterion.parquet",
    )
    return data_dir


def parquet_rows(data_dir: Path, identifier: str) -> list[dict]:
    namespace, name = identifier.split(".")
    source = {
        "bronze": f"read_parquet('{data_dir}/bronze/{name}/*.parquet', union_by_name = true)",
        "lake": f"read_parquet('{data_dir}/lake/{name}/*/*.parquet', hive_partitioning = true, "
        "hive_types = {'period': 'VARCHAR'})",
        "marts": f"read_parquet('{data_dir}/marts/{name}.parquet')",
    }[namespace]
    return duckdb.sql(f"select * from {source}").to_arrow_table().to_pylist()


def partition_of(row: dict, fields: list[str]) -> tuple:
    """The partition a Parquet row belongs in: `_province` is its department's province."""
    department = row.get("_department") or row.get("department")
    return tuple(PROVINCES.get(department) if c == "_province" else row[c] for c in fields)


def _sorted(rows: list[dict], columns: list[str]) -> list[tuple]:
    return sorted((tuple(row[c] for c in columns) for row in rows), key=repr)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        for name in ("NTM_ICEBERG_CATALOG_URI", "NTM_ICEBERG_WAREHOUSE", "NTM_DEPARTMENTS"):
            env.delenv(name, raising=False)
        data_dir = build_data_dir(tmp_path_factory.mktemp("iceberg") / "data")
        written = write_lake_tables(data_dir)
        yield data_dir, {t.identifier: t for t in written}


TABLES = [
    "bronze.digital_infrastructure",
    "bronze.satisfaction_surveys",
    "lake.public_service_records",
    "marts.fact_digital_infrastructure",
    "marts.dim_criterion",
]
SPECS = {
    "bronze.digital_infrastructure": [("_province", "identity"), ("year", "identity")],
    "bronze.satisfaction_surveys": [("_province", "identity"), ("period", "identity")],
    "lake.public_service_records": [("_province", "identity"), ("period", "identity")],
    "marts.fact_digital_infrastructure": [("province_code", "identity"), ("year", "identity")],
    "marts.dim_criterion": [],
}


def test_every_table_is_written_to_the_default_sqlite_catalog(lake):
    data_dir, written = lake
    assert sorted(written) == sorted(TABLES)
    assert (data_dir / "iceberg" / "catalog.db").is_file()
    warehouse = data_dir / "iceberg" / "warehouse"
    assert any((warehouse / "marts" / "fact_digital_infrastructure" / "data").rglob("*.parquet"))


@pytest.mark.parametrize("identifier", TABLES)
def test_the_rows_read_back_are_the_parquet_rows(lake, identifier):
    data_dir, written = lake
    expected = parquet_rows(data_dir, identifier)
    got = read_table(data_dir, identifier).to_pylist()
    columns = list(expected[0])
    assert written[identifier].rows == len(got) == len(expected) > 0
    assert _sorted(got, columns) == _sorted(expected, columns)
    if identifier.split(".")[0] in ("bronze", "lake"):  # the province added from the department registry
        department = "_department" if identifier.startswith("bronze") else "department"
        assert all(r["_province"] == PROVINCES.get(r[department]) for r in got)
        assert any(r["_province"] is None for r in got) == identifier.startswith("bronze")  # not-registered


def test_files_of_one_dataset_with_different_columns_are_unioned(lake):
    data_dir, _ = lake
    table = read_table(data_dir, "bronze.digital_infrastructure")
    assert "fixed_broadband_household_pct" in table.column_names
    assert table.num_rows == 20  # 5 units × (2 years + 1 + 1)


def test_duckdb_reads_the_tables_through_arrow(lake):
    data_dir, _ = lake
    con = duckdb.connect()
    duckdb_relation(con, data_dir, "marts.fact_digital_infrastructure").create_view("fact")
    query = "select province_code, year, count(*), sum(free_wifi_points), max(as_of) from {} group by all order by all"
    from_iceberg = con.sql(query.format("fact")).fetchall()
    mart = data_dir / "marts" / "fact_digital_infrastructure.parquet"
    assert from_iceberg == duckdb.sql(query.format(f"'{mart}'")).fetchall()
    assert [row[:3] for row in from_iceberg] == [("14", 2023, 5), ("14", 2024, 5), ("87", 2023, 10), ("87", 2024, 10)]
    only = duckdb_relation(con, data_dir, "marts.fact_digital_infrastructure", row_filter="province_code = '14'")
    assert only.aggregate("count(*), min(province_code), max(province_code)").fetchone() == (10, "14", "14")


@pytest.mark.parametrize("identifier", TABLES)
def test_the_partition_spec_is_as_declared(lake, identifier):
    data_dir, written = lake
    table = lake_catalog(data_dir).load_table(identifier)
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == SPECS[identifier]
    assert written[identifier].partition_by == [name for name, _ in SPECS[identifier]]


@pytest.mark.parametrize("identifier", [t for t in TABLES if SPECS[t]])
def test_data_files_are_laid_out_by_partition(lake, identifier):
    data_dir, _ = lake
    table = lake_catalog(data_dir).load_table(identifier)
    fields = [name for name, _ in SPECS[identifier]]
    files = table.inspect.files().to_pylist()
    for f in files:  # each file holds the rows of its partition only, in the partition's folder
        values = tuple(f["partition"][c] for c in fields)
        rows = pq.read_table(f["file_path"].removeprefix("file://")).to_pylist()
        assert len(rows) == f["record_count"] > 0
        assert {tuple(r[c] for c in fields) for r in rows} == {values}
        folder = "/".join(f"{c}={'null' if v is None else quote_plus(str(v))}" for c, v in zip(fields, values))
        assert f"/data/{folder}/" in f["file_path"]
    partitions = {tuple(p["partition"][c] for c in fields) for p in table.inspect.partitions().to_pylist()}
    assert partitions == {partition_of(r, fields) for r in parquet_rows(data_dir, identifier)}
    assert len(files) == len(partitions)  # small tables: one file per partition


def test_the_mart_files_sit_in_their_partition_folders(lake):
    data_dir, _ = lake
    table = lake_catalog(data_dir).load_table("marts.fact_digital_infrastructure")
    paths = [Path(p.removeprefix("file://")) for p in table.inspect.files()["file_path"].to_pylist()]
    assert {p.parent.relative_to(p.parents[2]).as_posix() for p in paths} == {
        "province_code=14/year=2023",
        "province_code=14/year=2024",
        "province_code=87/year=2023",
        "province_code=87/year=2024",
    }


def test_timestamps_with_time_zone_survive(lake):
    data_dir, _ = lake
    table = lake_catalog(data_dir).load_table("bronze.digital_infrastructure")
    assert isinstance(table.schema().find_field("_ingested_at").field_type, TimestamptzType)
    arrow = read_table(data_dir, "bronze.digital_infrastructure")
    assert arrow.schema.field("_ingested_at").type.unit == "us"
    assert arrow.schema.field("_ingested_at").type.tz in ("UTC", "+00:00", "Etc/UTC")
    assert min(arrow["_ingested_at"].to_pylist()) == FIRST_INGESTED
    lake_rows = read_table(data_dir, "lake.public_service_records", row_filter="period = '2024-01'").to_pylist()
    assert {r["ingested_at"] for r in lake_rows} == {dt.datetime(2024, 1, 28, 16, 59, 59, 999999, tzinfo=dt.UTC)}


def test_a_second_write_leaves_the_same_rows(lake):
    data_dir, first = lake
    catalog = lake_catalog(data_dir)
    before = {t: catalog.load_table(t).current_snapshot().snapshot_id for t in TABLES}
    again = {t.identifier: t for t in write_lake_tables(data_dir)}
    for identifier in TABLES:
        table = catalog.load_table(identifier)
        assert table.current_snapshot().snapshot_id != before[identifier]  # it was written again
        rows = read_table(data_dir, identifier).to_pylist()
        assert again[identifier].rows == first[identifier].rows == len(rows) == len(parquet_rows(data_dir, identifier))
        assert len({tuple(sorted(r.items(), key=str)) for r in rows}) == len(rows)  # no row twice
        assert again[identifier].data_files == first[identifier].data_files


@pytest.mark.portal
def test_the_catalog_can_live_in_postgresql(portal_pg_database, tmp_path, monkeypatch):
    # Across machines the catalog lives in PostgreSQL (docs/celery.md): here a database of its own
    # on the portal's server, read back through a second catalog object, as another machine would.
    import psycopg

    for name in ("NTM_ICEBERG_CATALOG_URI", "NTM_ICEBERG_WAREHOUSE", "NTM_DEPARTMENTS"):
        monkeypatch.delenv(name, raising=False)
    data_dir = build_data_dir(tmp_path / "data")
    monkeypatch.setenv("NTM_ICEBERG_CATALOG_URI", portal_pg_database)
    written = {t.identifier: t for t in write_lake_tables(data_dir)}
    assert set(TABLES) <= set(written)
    for identifier in TABLES:
        expected = parquet_rows(data_dir, identifier)
        columns = list(expected[0])
        assert _sorted(read_table(data_dir, identifier).to_pylist(), columns) == _sorted(expected, columns)
        spec = lake_catalog(data_dir).load_table(identifier).spec()
        assert [(f.name, str(f.transform)) for f in spec.fields] == SPECS[identifier]
    with psycopg.connect(portal_pg_database.replace("postgresql+psycopg://", "postgresql://")) as con:
        listed = con.execute("select table_namespace || '.' || table_name from iceberg_tables").fetchall()
    assert set(TABLES) <= {name for (name,) in listed}
    assert not (data_dir / "iceberg" / "catalog.db").exists()  # nothing went to the default catalog


def test_a_new_column_evolves_the_schema_and_a_gone_table_is_dropped(tmp_path, monkeypatch):
    for name in ("NTM_ICEBERG_CATALOG_URI", "NTM_ICEBERG_WAREHOUSE", "NTM_DEPARTMENTS"):
        monkeypatch.delenv(name, raising=False)
    data_dir = build_data_dir(tmp_path / "data")
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"  # a catalog given by URI, as `--catalog` does
    write_lake_tables(data_dir, uri)
    table = lake_catalog(data_dir, uri).load_table("bronze.digital_infrastructure")
    field_ids = {f.name: f.field_id for f in table.schema().fields}
    _bronze(duckdb.connect(), data_dir, "so-khcn-son-la", "(2025)", extra=True)
    (data_dir / "marts" / "dim_criterion.parquet").unlink()
    written = {t.identifier: t for t in write_lake_tables(data_dir, uri)}
    assert "marts.dim_criterion" not in written
    assert ("marts", "dim_criterion") not in lake_catalog(data_dir, uri).list_tables("marts")
    table = lake_catalog(data_dir, uri).load_table("bronze.digital_infrastructure")
    assert {f.name: f.field_id for f in table.schema().fields if f.name in field_ids} == field_ids  # evolved
    rows = read_table(data_dir, "bronze.digital_infrastructure", uri).to_pylist()
    assert written["bronze.digital_infrastructure"].rows == len(rows) == 25
    assert {r["year"] for r in rows if r["survey_round"] == "new"} == {2025}
    assert sum(r["survey_round"] is None for r in rows) == 20
    assert not (data_dir / "iceberg" / "catalog.db").exists()  # nothing went to the default catalog
