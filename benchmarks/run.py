"""The whole system's benchmarks, each figure beside a baseline measured in the same process, written
to benchmarks/RESULTS.md (never asserted in tests: these machines are noisy).

    uv run python benchmarks/run.py            # make bench: records at 1 M and 10 M rows
    uv run python benchmarks/run.py --quick    # make bench-quick: 100 k and 1 M rows, under 10 minutes
    uv run python benchmarks/run.py --only validate,latency   # those rows alone, the others kept

Inputs are generated: one-stop-office exports (Vietnamese headers, dd/mm/yyyy, personal columns)
over the 2,233 communes of six provinces, one department and export per province; every
commune × indicator × year of those provinces for the indicator dataset. Figures:
  ingest     rows/s and peak memory, against DuckDB read_csv → Parquet on the same files
  transform  full `dbt build`; the incremental run that adds one month, against that full build
  validate   the run's validation (the suites as DuckDB SQL) and Great Expectations against
             hand-written DuckDB SQL doing the same checks; the fixed cost of a fresh process
  publish    rows/s into the DataStore (the COPY path), against a direct PostgreSQL COPY into the
             DataStore database; the API path beside it
  latency    seconds from `ntm run` after a small file to its rows answered by datastore_search,
             against the same run validated by Great Expectations (bench_small_file.py)
  growth     time and peak memory at the larger size against the smaller
The local portal must be up (`make portal`); its datasets get the prefix `bench-` and are purged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from measure import PeakMemory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
SEEDS = REPO / "dbt_project" / "seeds"
UNITS = SEEDS / "admin_units" / "admin_units.csv"
PROVINCES = ("01", "34", "38", "40", "49", "79")  # the six provinces with the most communes in 2024
HEADER = {
    "Mã hồ sơ": "printf('000.00.%s.H-%d%02d-%09d', u.unit_code, y, m, r)",
    "Mã TTHC": "case when r % 2 = 0 then '1.004227' else '2.000908' end",
    "Tên TTHC": "case when r % 2 = 0 then 'Cấp giấy phép xây dựng nhà ở riêng lẻ' else 'Chứng thực bản sao' end",
    "Cấp giải quyết": "'Xã'",
    "Mã đơn vị": "u.unit_code",
    "Đơn vị tiếp nhận": "u.unit_name",
    "Ngày tiếp nhận": "strftime(make_date(y, m, 1 + cast(r % 27 as int)), '%d/%m/%Y')",
    "Ngày hẹn trả": "strftime(make_date(y, m, 1 + cast(r % 27 as int)) + 3, '%d/%m/%Y')",
    "Ngày trả kết quả": "case when r % 7 = 0 then '' else "
    "strftime(make_date(y, m, 1 + cast(r % 27 as int)) + cast(r % 5 as int), '%d/%m/%Y') end",
    "Hình thức nộp": "case r % 3 when 0 then 'Trực tuyến' when 1 then 'Trực tiếp' else 'Bưu chính công ích' end",
    "Họ tên người nộp": "'Nguyễn Văn ' || chr(65 + cast(r % 26 as int))",
    "Số CCCD": "printf('0%011d', r)",
    "Số điện thoại": "printf('09%08d', r % 100000000)",
}


def department(province: str) -> str:
    return f"mot-cua-bench-{province}"


def write_registry(workdir: Path) -> Path:
    """A department registry with one one-stop office per province (NTM_DEPARTMENTS)."""
    names = duckdb.sql(
        f"select unit_code, short_name from '{UNITS}' where list_version = 2024 and level = 'province'"
    ).fetchall()
    lines = [f"{department(code)}: {{province: {name}}}" for code, name in sorted(names) if code in PROVINCES]
    lines.append("vp-ntm-bench: {province: Thanh Hóa}")
    registry = workdir / "departments.yaml"
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return registry


def write_records(dropzone: Path, rows: int, months: list[tuple[int, int]], name: str) -> list[Path]:
    """`rows` records spread over the provinces' communes and `months`: one export per province, as
    a one-stop office sends its year (or month)."""
    files, per_file = [], rows // len(PROVINCES)
    columns = ", ".join(f'{sql} as "{name}"' for name, sql in HEADER.items())
    calendar = " union all ".join(f"select {i} as k, {y} as y, {m} as m" for i, (y, m) in enumerate(months))
    for province in PROVINCES:
        folder = dropzone / department(province) / "public_service_records"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"HoSo_MotCua_{name}.csv"
        duckdb.sql(f"""
            copy (
              with u as (select row_number() over (order by unit_code) - 1 as i, unit_code, unit_name,
                                count(*) over () as n
                         from '{UNITS}' where list_version = 2024 and level = 'commune'
                           and province_key = '2024:province:{province}'),
                   months as ({calendar})
              select {columns}
              from (select r, y, m from range({per_file}) t(r) join months on months.k = r % {len(months)}) t
              join u on u.i = t.r // {len(months)} % u.n
            ) to '{path}' (header, delimiter ',')
        """)
        old = time.time() - 60
        os.utime(path, (old, old))
        files.append(path)
    return files


def write_indicator_values(dropzone: Path) -> tuple[Path, int]:
    """Every commune of a province × indicator of the 2021–2025 set × year 2021–2024 (the communes of
    the 2024 list: a 2025 row is read in the list after the 1 July 2025 reorganisation)."""
    folder = dropzone / "vp-ntm-bench" / "indicator_values"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ChiTieu_TatCa_2021_2025.csv"
    criteria = SEEDS / "reference" / "criteria.csv"
    duckdb.sql(f"""
        copy (
          select u.unit_code as "Mã xã", u.unit_name as "Tên xã", y as "Năm", 'NTM_XA_2021_2025' as "Bộ tiêu chí",
                 c.criterion_no as "Tiêu chí", c.indicator_code as "Chỉ tiêu",
                 cast((hash(u.unit_code, c.indicator_code, y) % 1000) / 10.0 as varchar) as "Giá trị"
          from (select * from '{UNITS}' where list_version = 2024 and level = 'commune'
                  and province_key = '2024:province:38') u
          cross join (select distinct criterion_no, indicator_code from read_csv('{criteria}', all_varchar = true)
                      where set_id = 'NTM_XA_2021_2025' and indicator_code is not null) c
          cross join range(2021, 2025) t(y)
        ) to '{path}' (header, delimiter ',')
    """)
    os.utime(path, (time.time() - 60,) * 2)
    return path, duckdb.sql(f"select count(*) from read_csv('{path}')").fetchone()[0]


def timed(block):
    with PeakMemory() as memory:
        started = time.perf_counter()
        value = block()
        seconds = time.perf_counter() - started
    return value, seconds, memory.peak


# ---------------------------------------------------------------- the figures


def warm_up(workdir: Path) -> None:
    """One small file ingested first, untimed: imports and the unit lists are loaded once per
    process (a worker pays them once), not per measurement."""
    from ingest.run import ingest_dropzone

    write_records(workdir / "warm" / "dropzone", len(PROVINCES) * 10, [(2023, 1)], "warm")
    ingest_dropzone(workdir / "warm" / "dropzone", workdir / "warm" / "data", "bench-warm-up")
    shutil.rmtree(workdir / "warm")


def bench_ingest(workdir: Path, rows: int) -> dict:
    from ingest.run import ingest_dropzone

    dropzone, data_dir = workdir / "dropzone", workdir / "data"
    files = write_records(dropzone, rows, [(2024, m) for m in range(1, 13)], "2024")
    total = rows // len(PROVINCES) * len(PROVINCES)
    con = duckdb.connect()
    con.execute("set memory_limit = '1GB'")
    baseline_dir = workdir / "baseline"
    baseline_dir.mkdir()

    def baseline():
        for i, path in enumerate(files):
            target = baseline_dir / f"{i}.parquet"
            con.execute(f"copy (select * from read_csv('{path}')) to '{target}' (format parquet)")

    warm_up(workdir)
    _, base_s, base_peak = timed(baseline)
    result, ntm_s, ntm_peak = timed(lambda: ingest_dropzone(dropzone, data_dir, "bench-ingest"))
    landed = sum(f.rows_landed for f in result.files)
    assert landed == total, f"{landed:,} of {total:,} records landed: the rate would not be ingest's"
    shutil.rmtree(baseline_dir)
    return {
        "rows": total,
        "files": len(files),
        "landed": landed,
        "ntm_s": ntm_s,
        "ntm_peak": ntm_peak,
        "base_s": base_s,
        "base_peak": base_peak,
    }


def bench_transform(workdir: Path) -> dict:
    """A full build of the lake ingested by bench_ingest (plus every commune × indicator × year),
    then one more month of records ingested and built incrementally."""
    from ingest.run import ingest_dropzone
    from ntm.transform import transform

    dropzone, data_dir = workdir / "dropzone", workdir / "data"
    _, indicator_rows = write_indicator_values(dropzone)
    ingest_dropzone(dropzone, data_dir, "bench-indicators")
    full, full_s, full_peak = timed(lambda: transform(data_dir, docs=False))
    assert full.success, full.failures
    records = duckdb.sql(f"select count(*) from read_parquet('{data_dir}/lake/public_service_records/*/*.parquet')")
    month_rows = records.fetchone()[0] // 12
    write_records(dropzone, month_rows, [(2025, 1)], "2025_01")

    parts = {}

    def one_month():
        started = time.perf_counter()
        ingest_dropzone(dropzone, data_dir, "bench-month")
        parts["ingest_s"] = time.perf_counter() - started
        return transform(data_dir, docs=False, changed_only=True)

    month, month_s, month_peak = timed(one_month)
    assert month.success, month.failures
    return {
        "full_s": full_s,
        "full_peak": full_peak,
        "month_s": month_s,
        "month_ingest_s": parts["ingest_s"],
        "month_peak": month_peak,
        "month_rows": month_rows,
        "indicator_rows": indicator_rows,
        "month_plan": month.plan,
    }


def bench_validate(workdir: Path, rows: int) -> dict:
    import bench_validate_large as bv

    return {**bv.measure(workdir / "validate", rows), "fixed": bv.fixed_cost(workdir / "validate-fixed")}


def bench_publish(workdir: Path, rows: int, api_rows: int) -> dict:
    """A mart of `rows` rows into the DataStore by the COPY path, against a plain PostgreSQL COPY of
    the same CSV into the DataStore database; and `api_rows` of it through datastore_upsert."""
    import psycopg

    from ntm_core.settings import datastore_db_url
    from publish import datastore
    from publish.client import connect
    from publish.files import write_csv

    ckan = connect()
    database = datastore_db_url(ckan.address)
    mart = workdir / "publish" / "fact_bench.parquet"
    mart.parent.mkdir(parents=True)
    duckdb.sql(f"""
        copy (select '2024:commune:' || lpad(cast(r % 10000 as varchar), 5, '0') as unit_key,
                     'Xã Số ' || (r % 10000) as unit_name, 2024 + cast(r // 10000 % 3 as int) as year,
                     'P' || (r // 30000) as procedure_code, r % 500 as applications,
                     (r % 1001) / 10.0 as online_pct, 'mot-cua-bench' as department
              from range({rows}) t(r)) to '{mart}' (format parquet)
    """)
    csv_path = write_csv(mart, mart.with_suffix(".csv"))
    columns = {}
    key = ["unit_key", "year", "procedure_code"]
    fields = datastore.fields_for(mart, columns, key)
    org = ckan.action.organization_list()[0]
    package = ckan.action.package_create(name="bench-datastore-load", owner_org=org, private=True)
    try:
        copy_res = ckan.action.resource_create(package_id=package["id"], name="copy", url="http://bench/copy")
        _, copy_s, _ = timed(
            lambda: datastore.copy_table(ckan, copy_res["id"], csv_path, fields, key, database, exists=False)
        )
        copied = ckan.action.datastore_search(resource_id=copy_res["id"], limit=0)["total"]
        names = ", ".join(f'"{f["id"]}" {f["type"]}' for f in fields)

        def direct_copy():
            with psycopg.connect(database) as con, con.cursor() as cur:
                cur.execute(f"drop table if exists bench_direct_copy; create table bench_direct_copy ({names})")
                with cur.copy("copy bench_direct_copy from stdin with (format csv, header true)") as copy:
                    with open(csv_path, "rb") as f:
                        while block := f.read(1 << 20):
                            copy.write(block)
                cur.execute("drop table bench_direct_copy")

        _, base_s, _ = timed(direct_copy)
        texts = " || ' ' || ".join(f"coalesce(\"{f['id']}\"::text, '')" for f in fields)
        keys = ", ".join(f'"{k}"' for k in key)

        def same_work_copy():
            with psycopg.connect(database) as con, con.cursor() as cur:
                cur.execute(
                    f"drop table if exists bench_same_work; create table bench_same_work "
                    f"(_id serial primary key, _full_text tsvector, {names})"
                )
                columns = ", ".join(f'"{f["id"]}"' for f in fields)
                with cur.copy(f"copy bench_same_work ({columns}) from stdin with (format csv, header true)") as copy:
                    with open(csv_path, "rb") as f:
                        while block := f.read(1 << 20):
                            copy.write(block)
                cur.execute(f"update bench_same_work set _full_text = to_tsvector({texts})")
                cur.execute("create index on bench_same_work using gist (_full_text)")  # the DataStore's two
                cur.execute(f"create unique index on bench_same_work ({keys})")
                cur.execute("drop table bench_same_work")

        _, same_s, _ = timed(same_work_copy)
        api_mart = mart.with_name("fact_bench_api.parquet")
        duckdb.sql(f"copy (select * from '{mart}' limit {api_rows}) to '{api_mart}' (format parquet)")
        api_res = ckan.action.resource_create(package_id=package["id"], name="api", url="http://bench/api")
        api_fields = datastore.fields_for(api_mart, columns, key)
        _, api_s, _ = timed(lambda: datastore._load_through_api(ckan, api_res["id"], api_fields, api_mart, key))
    finally:
        ckan.action.dataset_purge(id=package["id"])
    return {
        "rows": rows,
        "copied": copied,
        "copy_s": copy_s,
        "base_s": base_s,
        "same_s": same_s,
        "api_rows": api_rows,
        "api_s": api_s,
    }


def bench_latency(workdir: Path) -> dict:
    """One small file from `ntm run` to datastore_search, each run in a fresh process, against the
    same path validated by Great Expectations (bench_small_file.py)."""
    import bench_small_file

    found = bench_small_file.measure(workdir / "small-file")
    return {**found, "rebuilt": found["ntm"]["rebuilt"], "published": found["ntm"]["published"]}


# ---------------------------------------------------------------- the page


def machine() -> list[str]:
    import dbt.version
    import great_expectations
    import pyarrow

    memory = next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    try:
        from publish.client import connect

        ckan_version = connect().action.status_show()["ckan_version"]
    except Exception:
        ckan_version = "not reachable"
    return [
        f"- Machine: {os.cpu_count()} cores, {int(memory) / 1024**2:.1f} GB memory, {platform.platform()}",
        f"- Python {platform.python_version()}, DuckDB {duckdb.__version__}, dbt-core {dbt.version.__version__}, "
        f"Great Expectations {great_expectations.__version__}, pyarrow {pyarrow.__version__}, CKAN {ckan_version}",
        f"- Run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ]


def mb(value: float) -> str:
    return f"{value / 1024**2:,.0f} MB"


def page(quick: bool, sizes: tuple[int, int], found: dict) -> str:
    small, large = sizes
    i_s, i_l = found["ingest"][small], found["ingest"][large]
    t_s, t_l = found["transform"][small], found["transform"][large]
    v, p, lat = found["validate"], found["publish"], found["latency"]
    rows = []

    def row(figure, ntm, baseline, ratio, target, met):
        rows.append(f"| {figure} | {ntm} | {baseline} | {ratio} | {target} | {'yes' if met else '**no**'} |")

    for size, i in ((small, i_s), (large, i_l)):
        speed = i["base_s"] / i["ntm_s"]
        row(
            f"ingest, {size:,} records ({i['files']} files)",
            f"{i['rows'] / i['ntm_s']:,.0f} rows/s, peak {mb(i['ntm_peak'])}",
            f"DuckDB read_csv → Parquet {i['rows'] / i['base_s']:,.0f} rows/s, peak {mb(i['base_peak'])}",
            f"{speed:.2f}× speed",
            "≥ 0.7× (#32)",
            speed >= 0.7,
        )
    for size, t in ((small, t_s), (large, t_l)):
        share = t["month_s"] / t["full_s"]
        # The month's ingest is in its figure; the full build's is not (it is the ingest row's).
        build_s = t["month_s"] - t.get("month_ingest_s", 0)
        row(
            f"transform, {size:,} records: full `dbt build`",
            f"{t['full_s']:.1f} s, peak {mb(t['full_peak'])}",
            "",
            "",
            "",
            True,
        )
        row(
            f"transform, {size:,} records: + one month ({t['month_rows']:,} records, plan `{t['month_plan']}`)",
            f"{t['month_s']:.1f} s (ingest {t.get('month_ingest_s', 0):.1f}, build {build_s:.1f})",
            f"the full build, {t['full_s']:.1f} s",
            f"{share:.0%} of full (its build alone: {build_s / t['full_s']:.0%})",
            "≤ 10 %",
            share <= 0.10,
        )
    rows += validate_rows(v)
    speed = p["base_s"] / p["copy_s"]
    row(
        f"publish, {p['rows']:,}-row mart into the DataStore (COPY path)",
        f"{p['rows'] / p['copy_s']:,.0f} rows/s ({p['copied']:,} rows, full text, indexes, key)",
        f"direct PostgreSQL COPY {p['rows'] / p['base_s']:,.0f} rows/s",
        f"{speed:.2f}× speed",
        "≥ 0.5×",
        speed >= 0.5,
    )
    speed = p["same_s"] / p["copy_s"]
    row(
        f"publish, {p['rows']:,}-row mart: the same against SQL doing the DataStore's work",
        f"{p['rows'] / p['copy_s']:,.0f} rows/s",
        f"by hand: COPY, full-text UPDATE, the same two indexes {p['rows'] / p['same_s']:,.0f} rows/s",
        f"{speed:.2f}× speed",
        "(our overhead)",
        True,
    )
    row(
        f"publish, {p['api_rows']:,} rows through the API (datastore_upsert)",
        f"{p['api_rows'] / p['api_s']:,.0f} rows/s",
        "",
        "",
        "(for comparison)",
        True,
    )
    rows += latency_rows(lat)
    for name, s, lg, key in (("ingest", i_s, i_l, "ntm"), ("transform", t_s, t_l, "full")):
        time_ratio = lg[f"{key}_s"] / s[f"{key}_s"] / (large / small)
        memory_ratio = lg[f"{key}_peak"] / s[f"{key}_peak"]
        row(
            f"growth, {name}: {large:,} against {small:,} records",
            f"time per record ×{time_ratio:.2f}, peak memory ×{memory_ratio:.2f}",
            f"{s[f'{key}_s']:.1f} s / {mb(s[f'{key}_peak'])} → {lg[f'{key}_s']:.1f} s / {mb(lg[f'{key}_peak'])}",
            "",
            "time linear (×≤1.2), memory ≤ 1.2×",
            time_ratio <= 1.2 and memory_ratio <= 1.2,
        )
    mode = "`make bench-quick` (sizes ÷ 10)" if quick else "`make bench`"
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Written by {mode}: `benchmarks/run.py`. Each figure beside its baseline measured in the same "
            "process; peak memory is the process's RSS sampled every 50 ms (dbt runs in it; each size of records in a "
            "process of its own).",
            "",
            *machine(),
            "",
            "| figure | ntm | baseline | ratio | target | met |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            *latency_notes(lat),
            "",
        ]
    )


def table_row(figure, ntm, baseline, ratio, target, met) -> str:
    return f"| {figure} | {ntm} | {baseline} | {ratio} | {target} | {'yes' if met else '**no**'} |"


def validate_rows(v: dict) -> list[str]:
    """Validation at the large size by the run's engine (DuckDB SQL) and by Great Expectations against
    hand-written SQL; the fixed cost of a fresh process against a bare DuckDB query."""
    ratio, gx_ratio = v["ntm_s"] / v["base_s"], v["gx_s"] / v["base_s"]
    f = v["fixed"]
    fixed = f["ntm_s"] - f["duckdb_s"]
    return [
        table_row(
            f"validate, {v['rows']:,} rows (suites as DuckDB SQL{', same checks as GE' * v['same_checks']})",
            f"{v['ntm_s']:.1f} s, peak {mb(v['ntm_peak'])}",
            f"hand-written DuckDB SQL {v['base_s']:.1f} s",
            f"{ratio:.2f}× time",
            "≤ 2×",
            ratio <= 2,
        ),
        table_row(
            f"validate, {v['rows']:,} rows: before, by Great Expectations (Data Docs)",
            f"{v['gx_s']:.1f} s, peak {mb(v['gx_peak'])}",
            f"hand-written DuckDB SQL {v['base_s']:.1f} s",
            f"{gx_ratio:.2f}× time",
            "(for comparison)",
            True,
        ),
        table_row(
            f"validate: fixed cost, a fresh process, {f['rows']:,}-row mart",
            f"{f['ntm_s']:.2f} s (+{fixed:.2f} s); by GE {f['gx_s']:.2f} s (+{f['gx_s'] - f['duckdb_s']:.2f} s)",
            f"one DuckDB query of it {f['duckdb_s']:.2f} s",
            "",
            "≤ 0.5 s more",
            fixed <= 0.5,
        ),
    ]


def latency_rows(lat: dict) -> list[str]:
    """One small file from `ntm run` to datastore_search (bench_small_file.py), against the same run
    with Great Expectations validating."""
    new, old = lat["ntm"], lat["baseline"]
    return [
        table_row(
            "latency: one small file, `ntm run` → its rows from datastore_search",
            f"{new['seconds']:.1f} s ({stage_list(new['stages'])})",
            f"validated by GE {old['seconds']:.1f} s ({stage_list(old['stages'])})",
            f"{new['seconds'] / old['seconds']:.2f}× time",
            "≤ 5 s",
            new["seconds"] <= 5,
        )
    ]


def stage_list(stages: dict) -> str:
    return ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in stages.items())


def latency_notes(lat: dict) -> list[str]:
    return [
        f"Latency run: rebuilt {', '.join(lat['rebuilt'])}; published again {', '.join(lat['published'])}; "
        'every other mart was "unchanged" without being read. Each run in a fresh process, bytecode cached.'
    ]


def update_rows(path: Path, found: dict) -> str:
    """The page with only the rows of the figures measured now replaced (`--only`), the others as
    they were."""
    text = path.read_text(encoding="utf-8")
    fresh = {"validate": validate_rows(found["validate"])} if "validate" in found else {}
    if "latency" in found:
        fresh["latency"] = latency_rows(found["latency"])
    lines, out, inserted = text.splitlines(), [], set()
    for line in lines:
        figure = line.split("|")[1].strip() if line.startswith("| ") else ""
        kind = next((k for k in fresh if figure.startswith(k)), None)
        if kind is None:
            out.append(
                "\n".join(latency_notes(found["latency"]))
                if "latency" in found and line.startswith("Latency run:")
                else line
            )
            continue
        if kind not in inserted:
            out += fresh[kind]
            inserted.add(kind)
    run_line = next(i for i, line in enumerate(out) if line.startswith("- Run:"))
    out = [line for line in out if not line.startswith("- Rows measured alone:")]
    out.insert(
        run_line + 1,
        f"- Rows measured alone: {', '.join(fresh)} on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"(`benchmarks/run.py --only {','.join(fresh)}`); the other rows from the run above",
    )
    return "\n".join(out) + "\n"


def records_in_this_process(size: int, workdir: Path, output: Path) -> None:
    workdir.mkdir(parents=True)
    os.environ["NTM_DEPARTMENTS"] = str(write_registry(workdir))
    print(f"[bench] ingest {size:,} records", flush=True)
    ingest = bench_ingest(workdir, size)
    print(f"[bench] transform {size:,} records", flush=True)
    transform = bench_transform(workdir)
    output.write_text(json.dumps({"ingest": ingest, "transform": transform}))


def main() -> None:
    os.environ["NTM_BULK_THRESHOLD_MB"] = "0"  # every export on the streaming path, as large ones are
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes ÷ 10, under 10 minutes")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--sizes", help="two record counts instead, e.g. 20000,50000 (a smoke run)")
    parser.add_argument("--only", help="measure only these figures (validate,latency) and replace their rows")
    parser.add_argument("--records", type=int, help=argparse.SUPPRESS)  # one size, in a process of its own
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.records:
        return records_in_this_process(args.records, args.workdir, args.json)
    sizes = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    if args.sizes:
        sizes = tuple(int(n) for n in args.sizes.split(","))
    root = args.workdir or Path(tempfile.mkdtemp(prefix="ntm-bench-"))
    if args.only:
        return only(args.only.split(","), root, sizes[1], args.output, args.workdir is None)
    found: dict = {"ingest": {}, "transform": {}}
    try:
        for size in sizes:
            # Each size in a fresh process: its peak memory is its own, not what an earlier one left.
            workdir, figures = root / f"records-{size}", root / f"records-{size}.json"
            subprocess.run(
                [sys.executable, __file__, "--records", str(size), "--workdir", str(workdir), "--json", str(figures)],
                check=True,
            )
            measured = json.loads(figures.read_text())
            found["ingest"][size], found["transform"][size] = measured["ingest"], measured["transform"]
            shutil.rmtree(workdir)
        print("[bench] validate", flush=True)
        found["validate"] = bench_validate(root, sizes[1])
        print("[bench] publish", flush=True)
        found["publish"] = bench_publish(root, sizes[0], min(20_000, sizes[0]))
        print("[bench] latency", flush=True)
        found["latency"] = bench_latency(root)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    args.output.write_text(page(args.quick, sizes, found), encoding="utf-8")
    print(args.output.read_text(encoding="utf-8"))


def only(figures: list[str], root: Path, rows: int, output: Path, remove: bool) -> None:
    """Measure only `figures` and replace their rows in the page, the other rows as they were."""
    found = {}
    try:
        if "validate" in figures:
            print("[bench] validate", flush=True)
            found["validate"] = bench_validate(root, rows)
        if "latency" in figures:
            print("[bench] latency", flush=True)
            found["latency"] = bench_latency(root)
    finally:
        if remove:
            shutil.rmtree(root, ignore_errors=True)
    output.write_text(update_rows(output, found), encoding="utf-8")
    print(output.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
