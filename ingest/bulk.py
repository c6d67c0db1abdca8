"""Large CSV files (millions of applications) go through DuckDB in bounded memory.

The contract is compiled to SQL: every column is read as text and typed by the same Vietnamese
rules as `ingest.values` (comma decimals, dot thousands, dd/mm/yyyy, `-` for no data), and each
row collects its problems in a list column. A first pass writes the checked rows to a temporary
Parquet file; each distinct unit is then resolved once (a file names a few hundred units, not
millions); a second pass joins rows to their unit and writes the good ones to bronze. Types
with no SQL form use the Python parser as a DuckDB function.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ingest.contract import Column, Contract
from ingest.readers import RawTable, _sniff_delimiter, decode_text
from ingest.store import bronze_schema
from ingest.table import Issue, period_from_context, locate_header
from ingest.values import NO_DATA, PARSERS, BadValue
from ntm.config import log

HEAD_BYTES = 256 * 1024


def _is_no_data(expr: str) -> str:
    """SQL: the cell is one of the marks of no data (`ingest.values.NO_DATA`, any case). The length
    is tested first, so most cells are settled by one comparison (a constant IN list would be
    planned as a join, per column)."""
    short = [m for m in sorted(NO_DATA) if len(m.encode()) <= 3]
    long = [m for m in sorted(NO_DATA) if len(m.encode()) > 3]
    lengths = sorted({len(m.encode()) for m in long})

    def equal(mark: str) -> str:
        return f"lower({expr}) = {_lit(mark)}" if mark.lower() != mark.upper() else f"{expr} = {_lit(mark)}"

    return (f"(CASE WHEN strlen({expr}) <= 3 THEN ({' OR '.join(map(equal, short))}) "
            f"WHEN strlen({expr}) BETWEEN {lengths[0]} AND {lengths[-1]} THEN ({' OR '.join(map(equal, long))}) "
            "ELSE false END)")


MEMORY_LIMIT = os.environ.get("NTM_DUCKDB_MEMORY", "768MB")


def threshold_bytes() -> int:
    """Files at least this large take the DuckDB path (NTM_BULK_THRESHOLD_MB, default 64)."""
    return int(float(os.environ.get("NTM_BULK_THRESHOLD_MB", "64")) * 1024 * 1024)


@dataclass
class BulkResult:
    rows_landed: int
    rows_held_back: int
    issues: list[Issue]          # the first problems, for the report
    bronze: Path | None
    period: str


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Combining marks a decomposed (NFD) Vietnamese letter carries: tones, circumflex, breve, horn.
_COMBINING = (0x300, 0x301, 0x303, 0x309, 0x323, 0x302, 0x306, 0x31B)


# What `trim` takes off a cell: spaces, tabs and the no-break spaces spreadsheets paste.
_PADDING = "' ' || chr(9) || chr(160)"


def _padded(col: str) -> str:
    """Whether a cell starts or ends with padding: `ord` reads only the first character."""
    return " OR ".join([f"ord({col}) = {c}" for c in (32, 9, 160)] +
                       [f"ends_with({col}, chr({c}))" for c in (32, 9, 160)])


def _cleaning_layers(columns: list[tuple[str, str, bool]]) -> list[str]:
    """SELECT lists, one per layer, turning raw cells into clean text: trimmed; free-text columns
    in Unicode NFC; NULL for the marks of no data; free text with inner whitespace folded. Each
    costly function runs only where a cheap test says it is needed: `trim` on every cell costs
    more than reading the file, `nfc_normalize` more still. Layers keep each expression referring
    to a column, not to a copy of another expression. `columns` is (raw name, clean name, is free text)."""
    trimmed, normalised, nulled = [], [], []
    for raw, out, text in columns:
        col = _q(out)
        trimmed.append(f"CASE WHEN {_padded(_q(raw))} THEN trim({_q(raw)}, {_PADDING}) ELSE {_q(raw)} END AS {col}")
        if text:
            marks = " OR ".join(f"contains({col}, chr({c}))" for c in _COMBINING)
            normalised.append(f"CASE WHEN {marks} THEN nfc_normalize({col}) ELSE {col} END AS {col}")
            spaced = f"contains({col}, '  ') OR contains({col}, chr(9)) OR contains({col}, chr(10))"
            nulled.append(f"CASE WHEN {_is_no_data(col)} THEN NULL WHEN {spaced} "
                          f"THEN regexp_replace({col}, '\\s+', ' ', 'g') ELSE {col} END AS {col}")
        else:
            normalised.append(col)
            nulled.append(f"CASE WHEN {_is_no_data(col)} THEN NULL ELSE {col} END AS {col}")
    return [", ".join(trimmed), ", ".join(normalised), ", ".join(nulled)]


def _number(t: str) -> str:
    """Same rules as values.parse_number: '1.797' and '1.797,5' group thousands with dots,
    '46,32' and '98.9' are decimals; anything else is not a number."""
    s = f"replace({t}, ' ', '')"
    return (f"(CASE WHEN regexp_full_match({s}, '[+-]?\\d{{1,3}}(\\.\\d{{3}})+(,\\d+)?') "
            f"THEN TRY_CAST(replace(replace({s}, '.', ''), ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({s}, '[+-]?\\d+(,\\d+)?') THEN TRY_CAST(replace({s}, ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({s}, '[+-]?\\d+\\.\\d{{1,2}}|[+-]?\\d+\\.\\d{{4,}}') THEN TRY_CAST({s} AS DOUBLE) "
            f"ELSE NULL END)")


def _typed(col: Column, t: str) -> tuple[str, str | None]:
    """(SQL giving the typed value, SQL for its UDF name when Python must parse it)."""
    if col.type == "text":
        return t, None
    if col.type == "code":
        stripped = f"replace({t}, ' ', '')"
        if col.width:
            return (f"(CASE WHEN regexp_full_match({stripped}, '\\d{{1,{col.width}}}') "
                    f"THEN lpad({stripped}, {col.width}, '0') ELSE {stripped} END)"), None
        return stripped, None
    if col.type in ("number", "percent", "integer"):
        value = _number(f"regexp_replace({t}, '%$', '')" if col.type == "percent" else t)
        if col.type == "integer":
            return f"(CASE WHEN {value} = floor({value}) THEN CAST({value} AS BIGINT) END)", None
        return value, None
    if col.type == "year":
        return f"TRY_CAST(regexp_extract({t}, '^(?:[Nn][ăa]m\\s*)?((?:19|20)\\d\\d)$', 1) AS INTEGER)", None
    if col.type == "date":
        return ("coalesce(" + ", ".join(f"CAST(try_strptime({t}, '{fmt}') AS DATE)"
                                        for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")) + ")"), None
    return f"ntm_parse_{col.type}({t})", col.type


def _problems(col: Column, raw: str, value: str) -> list[str]:
    label = col.aliases[-1] if col.aliases else col.name
    checks = [f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN "
              f"{_lit(f'{col.name}: cannot read the value as {col.type}')} || ' ''' || {raw} || '''' END"]
    if col.required:
        checks.append(f"CASE WHEN {raw} IS NULL THEN {_lit(f'{col.name}: required value {label} is missing')} END")
    if col.range:
        low, high = col.range
        conds = [f"{value} < {low}" if low is not None else None, f"{value} > {high}" if high is not None else None]
        cond = " OR ".join(c for c in conds if c)
        checks.append(f"CASE WHEN {cond} THEN {_lit(f'{col.name}: outside the allowed range')} || ' ' || "
                      f"CAST({value} AS VARCHAR) END")
    if col.allowed:
        values = " AND ".join(f"{value} <> {_lit(v)}" for v in col.allowed)
        checks.append(f"CASE WHEN {values} THEN {_lit(f'{col.name}: not an allowed value')} "
                      f"|| ' ''' || {value} || '''' END")
    return checks


def _python_parser(parser):
    def parse(raw: str | None) -> str | None:
        try:
            value = parser(raw)
        except BadValue:
            return None
        return None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return parse


def _register_parsers(con: duckdb.DuckDBPyConnection, types: set[str]) -> None:
    for type_name in types:
        con.create_function(f"ntm_parse_{type_name}", _python_parser(PARSERS[type_name]), ["VARCHAR"], "VARCHAR",
                            null_handling="special")


def _utf8_copy(path: Path, workdir: Path) -> tuple[Path, str]:
    """DuckDB reads UTF-8: other encodings are converted chunk by chunk into a temporary file,
    with the encoding decided once for the whole file (on its first bytes)."""
    import codecs

    from viparse.normalize.encodings import CHARMAPS
    from viparse.normalize.tables import convert

    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    try:
        head.decode("utf-8")
        return path, "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(head) - 4 and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return path, "utf-8"  # only a character cut at the end of the sample
    _, encoding = decode_text(head[:HEAD_BYTES - 4096] if len(head) == HEAD_BYTES else head)
    target = workdir / "utf8.csv"
    decoder = None if encoding in CHARMAPS else codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        for chunk in iter(lambda: src.read(16 * 1024 * 1024), b""):
            if decoder is not None:
                dst.write(unicodedata.normalize("NFC", decoder.decode(chunk)))
            else:  # legacy bytes: one byte sequence per letter, line-aligned chunks keep them whole
                chunk += src.readline()
                surface = chunk.decode("cp1252", errors="latin1_fallback")
                dst.write(unicodedata.normalize("NFC", convert(surface, CHARMAPS[encoding])))
    return target, encoding


def ingest_bulk(path: Path, contract: Contract, *, department: str, sha: str, run_id: str,
                data_dir: Path) -> BulkResult:
    """Type, check and land a large CSV with DuckDB; return counts and the first problems."""
    from ingest.readers import read_csv_head

    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        workdir = Path(tmp)
        source, _ = _utf8_copy(path, workdir)
        with open(source, "rb") as f:  # the head only: the file may be gigabytes
            head_text = f.read(HEAD_BYTES).decode("utf-8", errors="ignore").lstrip("\ufeff")
        delimiter = _sniff_delimiter(head_text)
        head = read_csv_head(head_text, delimiter)
        first, last, mapping, _ = locate_header(RawTable(rows=head, merged=[]), contract)
        width = max(len(cells) for n, cells in head if n == first)
        names = [f"c{i}" for i in range(width)]

        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"SET temp_directory = {_lit(str(workdir))}")
        # Three layers, so every expression refers to columns, not to copies of other expressions:
        # cleaned text (r_<name>) -> typed values (<name>) -> the list of problems.
        cleaning, typed, problems, udf_types = [], [], [], set()
        for index, canonical in sorted(mapping.items()):
            col = contract.column(canonical)
            if col.personal:
                continue  # never read past the raw file
            raw = _q("r_" + col.name)
            cleaning.append((names[index], "r_" + col.name, col.type == "text"))
            value, udf = _typed(col, raw)
            if udf:
                udf_types.add(udf)
            if col.default is not None:
                value = f"coalesce({value}, {_lit(str(col.default))})"
            typed.append(f"{value} AS {_q(col.name)}")
            problems += _problems(col, raw, _q(col.name))
        fallback_year = None
        if "year" in contract.column_names and "year" not in mapping.values():
            fallback_year = period_from_context(RawTable(rows=head, merged=[]), first, path)
        for col in contract.stored_columns:
            if col.name == "year" and fallback_year is not None:
                typed.append(f"{fallback_year} AS year")
            elif col.name not in mapping.values():
                default = _lit(str(col.default)) if col.default is not None else "NULL"
                typed.append(f"{default} AS {_q(col.name)}")
                if col.required:
                    problems.append(_lit(f"{col.name}: required column missing"))
        _register_parsers(con, udf_types)
        columns = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
        layers = _cleaning_layers(cleaning)
        # No row number here: `row_number() OVER ()` would make the whole pass single-threaded.
        # The pass keeps file order, so a row's place in its output is its number (see _write).
        con.execute(f"""
            CREATE TEMP VIEW cleaned_0 AS
            SELECT {layers[0]}
            FROM read_csv({_lit(str(source))}, delim = {_lit(delimiter)}, header = false, skip = {last},
                          columns = {columns}, quote = '"', escape = '"', null_padding = true,
                          max_line_size = 1048576, auto_detect = false)
        """)
        con.execute(f"CREATE TEMP VIEW cleaned_1 AS SELECT {layers[1]} FROM cleaned_0")
        con.execute(f"CREATE TEMP VIEW cleaned AS SELECT {layers[2]} FROM cleaned_1")
        con.execute(f"CREATE TEMP VIEW typed_only AS SELECT *, {', '.join(typed)} FROM cleaned")
        # The list of problems is built only for rows that have one (most rows have none).
        bad = " OR ".join(f"({p.split(' THEN ', 1)[0].removeprefix('CASE WHEN ')})" for p in problems
                          if p.startswith("CASE WHEN ")) or "false"
        unconditional = [p for p in problems if not p.startswith("CASE WHEN ")]
        if unconditional:
            bad = "true"
        raw_columns = ", ".join(_q("r_" + contract.column(c).name) for c in mapping.values()
                                if not contract.column(c).personal)
        con.execute(f"""
            CREATE TEMP VIEW typed AS
            SELECT * EXCLUDE ({raw_columns}),
                   CASE WHEN coalesce({bad}, false)
                        THEN list_filter([{', '.join(problems) or 'NULL'}], x -> x IS NOT NULL)
                        ELSE []::VARCHAR[] END AS _problems
            FROM typed_only
        """)
        units = contract.unit_level is not None and "unit_name" in contract.column_names
        return _write(con, contract, units, workdir, first_row=last + 1, department=department,
                      source_file=path.name, sha=sha, run_id=run_id, data_dir=data_dir)


def _unit_list(contract: Contract) -> str:
    """Which official unit list a row speaks of: the one in force at its date (SQL)."""
    names = contract.column_names
    dates = []
    if "year" in names:
        dates.append("make_date(year, 12, 31)")
    dates += [c for c in ("received_date", "decision_date") if c in names]
    if "period" in names:
        dates.append("make_date(TRY_CAST(left(period, 4) AS INTEGER), CASE WHEN period LIKE '%-Q%' "
                     "THEN 3 * TRY_CAST(right(period, 1) AS INTEGER) WHEN period LIKE '%-H%' "
                     "THEN 6 * TRY_CAST(right(period, 1) AS INTEGER) WHEN length(period) = 7 "
                     "THEN TRY_CAST(right(period, 2) AS INTEGER) ELSE 12 END, 28)")
    if not dates:
        return "NULL"
    ref = f"coalesce({', '.join(dates)})"
    return f"CASE WHEN {ref} < DATE '2025-07-01' THEN '2024' WHEN {ref} IS NOT NULL THEN '2025' END"


def _unit_answers(con, contract: Contract, department: str) -> None:
    """The temp table `unit_answers`: each distinct (name, code, district, list) of the checked rows
    with its answer, 'code|level|list' or '|||why'. A file names a few hundred units, not millions,
    so the resolver runs once per distinct key and the rows meet their answer in a join."""
    import pyarrow as pa

    from ingest.units.rows import province_of, resolve_row

    province = province_of(department)
    keys = con.execute("SELECT DISTINCT unit_name, unit_code, _unit_district, _unit_list FROM checked").to_arrow_table()
    answers = []
    for key in keys.to_pylist():
        record = {"unit_name": key["unit_name"], "unit_code": key["unit_code"],
                  "district_name": key["_unit_district"], "year": int(key["_unit_list"]) if key["_unit_list"] else None}
        got, level = resolve_row(record, contract.unit_level, province)
        answers.append(f"{got.unit.code}|{level}|{got.unit.list_version}" if got.status == "matched"
                       else f"|||unit '{key['unit_name'] or key['unit_code']}' {got.status}: {got.reason}")
    keys = keys.append_column("_unit", pa.array(answers, pa.string()))
    con.register("unit_answers_arrow", keys)
    con.execute("CREATE TEMP TABLE unit_answers AS SELECT * FROM unit_answers_arrow")
    con.unregister("unit_answers_arrow")
    log(f"ingest: {keys.num_rows:,} distinct units resolved")


def _write(con, contract: Contract, units: bool, workdir: Path, *, first_row: int, department: str,
           source_file: str, sha: str, run_id: str, data_dir: Path) -> BulkResult:
    """Two passes. The first types and checks every row, in parallel and in file order, into one
    Parquet file; then each distinct unit is resolved once; the second pass numbers the rows by
    their place in that file, gives them their unit and splits them: good rows (first of their
    key) to bronze, the others to the report."""
    schema = bronze_schema(contract)
    now = datetime.now(timezone.utc).isoformat()
    constants = {"_department": _lit(department), "_source_file": _lit(source_file), "_sha256": _lit(sha),
                 "_ingested_at": f"TIMESTAMPTZ {_lit(now)}", "_run_id": _lit(run_id)}
    resolved = ("unit_code", "unit_level", "unit_list_version") if units else ()
    select = []
    for name in schema.names:
        if name == "_row_number" or name in resolved[1:] or name in constants:
            continue  # given in the second pass
        select.append(f"CAST({_q(name)} AS {_duck_type(schema.field(name).type)}) AS {_q(name)}")
    if units:
        district = "district_name" if "district_name" in contract.column_names else "NULL"
        select += [f"CAST({district} AS VARCHAR) AS _unit_district", f"{_unit_list(contract)} AS _unit_list"]
    checked = workdir / "checked.parquet"
    started = time.perf_counter()
    if units:  # the official unit lists load (about 1.5 s) while DuckDB reads the file
        from ingest.units.resolver import index
        loading = threading.Thread(target=index, name="load-units", daemon=True)
        loading.start()
    [total] = con.execute(f"COPY (SELECT {', '.join(select)}, _problems FROM typed) TO {_lit(str(checked))} "
                          "(FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE 200000)").fetchone()
    log(f"ingest: {source_file}: {total:,} rows read, typed and checked in {time.perf_counter() - started:.1f} s")
    con.execute(f"CREATE TEMP VIEW checked AS SELECT * FROM read_parquet({_lit(str(checked))}, file_row_number = true)")
    if units:
        loading.join()
        _unit_answers(con, contract, department)
        parts = ", ".join(f"nullif(split_part(answers._unit, '|', {i}), '') AS {name}"
                          for i, name in enumerate(resolved, start=1))
        same_key = " AND ".join(f"answers.{c} IS NOT DISTINCT FROM checked.{c}"
                                for c in ("unit_name", "unit_code", "_unit_district", "_unit_list"))
        con.execute(f"""CREATE TEMP VIEW numbered AS
                        SELECT checked.* EXCLUDE (file_row_number, unit_code, _unit_district, _unit_list, _problems),
                               {parts}, {first_row} + file_row_number AS _row_number,
                               CASE WHEN answers._unit LIKE '|||%'
                                    THEN list_append(_problems, 'unit_name: ' || substr(answers._unit, 4))
                                    ELSE _problems END AS _problems
                        FROM checked LEFT JOIN unit_answers AS answers ON {same_key}""")
    else:
        con.execute(f"CREATE TEMP VIEW numbered AS SELECT * EXCLUDE (file_row_number), "
                    f"{first_row} + file_row_number AS _row_number FROM checked")
    # Whether any key repeats can be asked of the checked rows, without the join to their units,
    # when no key is a resolved column: good rows are a subset of them.
    _hold_back_duplicates(con, [_q(k) for k in contract.keys],
                          "numbered" if set(contract.keys) & set(resolved) else "checked")
    good = "len(_problems) = 0 AND _row_number NOT IN (SELECT _row_number FROM duplicates)"
    bronze, period = None, "all"
    target = data_dir / "bronze" / contract.id / f"{department}__{sha[:16]}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.part")
    names = ", ".join(f"{constants[n]} AS {n}" if n in constants else _q(n) for n in schema.names)
    [landed] = con.execute(f"COPY (SELECT {names} FROM numbered WHERE {good}) "  # file order: no sort needed
                           f"TO {_lit(str(tmp))} (FORMAT parquet, ROW_GROUP_SIZE 200000)").fetchone()
    if landed:
        tmp.rename(target)
        bronze = target
        period = _period(con, contract, schema, bronze)
    else:
        tmp.unlink()
    held = total - landed
    issues = []
    if held:
        bad_rows = (f"SELECT _row_number, CASE WHEN len(_problems) > 0 THEN _problems ELSE "
                    f"['duplicate key: same key as an earlier row'] END FROM numbered WHERE NOT ({good})")
        for row, problems in con.execute(f"{bad_rows} ORDER BY _row_number LIMIT 1000").fetchall():
            issues += [Issue(int(row), p.split(":", 1)[0], None, _vi(p), p, "Sửa giá trị theo quy định của biểu mẫu",
                             "Correct the value as the form requires") for p in problems]
    log(f"ingest: {source_file}: {landed:,} rows to bronze, {held:,} held back "
        f"({time.perf_counter() - started:.1f} s in all)")
    return BulkResult(int(landed), int(held), issues, bronze, period)


def _hold_back_duplicates(con, keys: list[str], candidates: str) -> None:
    """The temp table `duplicates`: row numbers of good rows that repeat the key of an earlier good
    row. One aggregation over `candidates` finds whether there are any; the ranking runs only
    when there are."""
    con.execute("CREATE OR REPLACE TEMP TABLE duplicates (_row_number BIGINT)")
    key_list = ", ".join(keys)
    dups = con.execute(f"SELECT count(*) FROM (SELECT {key_list} FROM {candidates} WHERE len(_problems) = 0 "
                       "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    if dups:
        con.execute(f"""INSERT INTO duplicates SELECT _row_number FROM (
                            SELECT _row_number, row_number() OVER (PARTITION BY {key_list} ORDER BY _row_number) AS _rank
                            FROM numbered WHERE len(_problems) = 0) WHERE _rank > 1""")


def _period(con, contract: Contract, schema, bronze: Path) -> str:
    column = contract.period.get("column", "year")
    if column not in schema.names:
        return "all"
    expr = f"strftime({_q(column)}, '%Y-%m')" if contract.period.get("kind") == "month" \
        else f"CAST({_q(column)} AS VARCHAR)"
    low, high = con.execute(f"SELECT min({expr}), max({expr}) FROM read_parquet({_lit(str(bronze))})").fetchone()
    return "all" if low is None else low if low == high else f"{low}..{high}"


def _vi(problem: str) -> str:
    column, _, text = problem.partition(": ")
    return f"Cột {column}: " + (text.replace("cannot read the value as", "không đọc được giá trị kiểu")
                                .replace("required value", "thiếu giá trị bắt buộc").replace("is missing", "")
                                .replace("outside the allowed range", "ngoài khoảng cho phép")
                                .replace("not an allowed value", "không thuộc danh sách cho phép")
                                .replace("same key as an earlier row", "trùng khóa với một dòng trước"))


def _duck_type(arrow_type) -> str:
    import pyarrow as pa

    return {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INTEGER",
            pa.bool_(): "BOOLEAN", pa.date32(): "DATE"}.get(arrow_type, "VARCHAR")
