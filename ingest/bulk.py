"""Large CSV files (millions of applications) go through DuckDB in bounded memory.

The contract is compiled to SQL: every column is read as text and typed by the same Vietnamese
rules as `ingest.values` (comma decimals, dot thousands, dd/mm/yyyy, `-` for no data), each row
collects its problems in a list column, and one `COPY` writes the good rows to bronze and the bad
ones to a quarantine file. Units are resolved once per distinct name and code, not once per row.
Types with no SQL form use the Python parser as a DuckDB function.
"""
from __future__ import annotations

import os
import tempfile
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
from ingest.values import PARSERS, BadValue
from ntm.config import log

HEAD_BYTES = 256 * 1024
NO_DATA = ("", "-", "--", "–", "—", "n/a", "N/A", "na", "NA")


def _is_no_data(expr: str) -> str:
    # Equalities, not IN (...): DuckDB plans a constant IN list as a join, per column.
    return "(" + " OR ".join(f"{expr} = {_lit(v)}" for v in NO_DATA) + ")"
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


def _cleaning_layers(columns: list[tuple[str, str, bool]]) -> list[str]:
    """SELECT lists, one per layer, turning raw cells into clean text: trimmed, NULL for the
    marks of no data; free-text columns also in Unicode NFC with inner whitespace folded, each
    only where a cheap `contains` test says it is needed (the normalising functions cost ten
    times more). Layers keep each expression referring to a column, not to a copy of another
    expression. `columns` is (raw name, clean name, is free text)."""
    trimmed = [f"CASE WHEN {_is_no_data(f'trim({_q(raw)})')} THEN NULL ELSE trim({_q(raw)}) END AS {_q(out)}"
               for raw, out, _ in columns]
    nfc, folded = [], []
    for _, out, text in columns:
        col = _q(out)
        if text:
            marks = " OR ".join(f"contains({col}, chr({c}))" for c in _COMBINING)
            nfc.append(f"CASE WHEN {marks} THEN nfc_normalize({col}) ELSE {col} END AS {col}")
            spaced = f"contains({col}, '  ') OR contains({col}, chr(9)) OR contains({col}, chr(10))"
            folded.append(f"CASE WHEN {spaced} THEN regexp_replace({col}, '\\s+', ' ', 'g') ELSE {col} END AS {col}")
        else:
            nfc.append(col)
            folded.append(col)
    return [", ".join(trimmed), ", ".join(nfc), ", ".join(folded)]


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
        if units:
            _register_unit_resolver(con, contract, department)
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


def _register_unit_resolver(con, contract: Contract, department: str) -> None:
    """`ntm_unit(name, code, district, list)` -> 'code|level|list' or '||why': a vectorised function
    that resolves each distinct combination once (a file names a few hundred units, not millions)."""
    import pyarrow as pa

    from ingest.units.rows import province_of, resolve_row

    province = province_of(department)
    cache: dict[tuple, str] = {}

    def answer(key: tuple) -> str:
        if key not in cache:
            name, code, district, unit_list = key
            record = {"unit_name": name, "unit_code": code, "district_name": district,
                      "year": int(unit_list) if unit_list else None}
            got, level = resolve_row(record, contract.unit_level, province)
            cache[key] = (f"{got.unit.code}|{level}|{got.unit.list_version}" if got.status == "matched"
                          else f"|||unit '{name or code}' {got.status}: {got.reason}")
        return cache[key]

    def resolve_batch(names, codes, districts, lists):
        # Vectorised: one key per row, dictionary-encoded, so Python sees each distinct key once.
        import pyarrow.compute as pc

        parts = [pc.fill_null(pc.cast(a, pa.string()), "\x00") for a in (names, codes, districts, lists)]
        joined = pc.binary_join_element_wise(*parts, "\x1f")
        if isinstance(joined, pa.ChunkedArray):
            joined = joined.combine_chunks()
        encoded = pc.dictionary_encode(joined)
        values = [answer(tuple(None if v == "\x00" else v for v in key.split("\x1f")))
                  for key in encoded.dictionary.to_pylist()]
        return pc.take(pa.array(values, pa.string()), encoded.indices)

    con.create_function("ntm_unit", resolve_batch, ["VARCHAR"] * 4, "VARCHAR", type="arrow",
                        null_handling="special", side_effects=False)


def _write(con, contract: Contract, units: bool, workdir: Path, *, first_row: int, department: str,
           source_file: str, sha: str, run_id: str, data_dir: Path) -> BulkResult:
    """Two passes. The first types, resolves and checks every row, in parallel and in file order,
    into one Parquet file; the second numbers the rows by their place in that file and splits them:
    good rows (first of their key) to bronze, the others to the report."""
    schema = bronze_schema(contract)
    now = datetime.now(timezone.utc).isoformat()
    constants = {"_department": _lit(department), "_source_file": _lit(source_file), "_sha256": _lit(sha),
                 "_ingested_at": f"TIMESTAMPTZ {_lit(now)}", "_run_id": _lit(run_id)}
    select = []
    for name in schema.names:
        if name == "_row_number":
            continue  # given in the second pass
        if units and name in ("unit_code", "unit_level", "unit_list_version"):
            part = {"unit_code": 1, "unit_level": 2, "unit_list_version": 3}[name]
            select.append(f"nullif(split_part(_unit, '|', {part}), '') AS {_q(name)}")
        elif name in constants:
            select.append(f"{constants[name]} AS {name}")
        else:
            select.append(f"CAST({_q(name)} AS {_duck_type(schema.field(name).type)}) AS {_q(name)}")
    district = "district_name" if "district_name" in contract.column_names else "NULL"
    unit = f"ntm_unit(unit_name, unit_code, {district}, {_unit_list(contract)})" if units else "NULL"
    unit_problem = "CASE WHEN _unit LIKE '|||%' THEN 'unit_name: ' || substr(_unit, 4) END" if units else "NULL"
    checked = workdir / "checked.parquet"
    started = time.perf_counter()
    con.execute(f"""
        COPY (
            SELECT {', '.join(select)}, _problems
            FROM (
                SELECT *, list_filter(_own || [{unit_problem}], x -> x IS NOT NULL) AS _problems
                FROM (SELECT * EXCLUDE (_problems), _problems AS _own, {unit} AS _unit FROM typed)
            )
        ) TO {_lit(str(checked))} (FORMAT parquet, ROW_GROUP_SIZE 200000)
    """)
    log(f"ingest: {source_file}: read, typed, checked and resolved in {time.perf_counter() - started:.1f} s")
    con.execute(f"""CREATE TEMP VIEW numbered AS
                    SELECT * EXCLUDE (file_row_number), {first_row} + file_row_number AS _row_number
                    FROM read_parquet({_lit(str(checked))}, file_row_number = true)""")
    _hold_back_duplicates(con, [_q(k) for k in contract.keys])
    good = "len(_problems) = 0 AND _row_number NOT IN (SELECT _row_number FROM duplicates)"
    landed, held = con.execute(f"SELECT count(*) FILTER ({good}), count(*) FILTER (NOT ({good})) "
                               "FROM numbered").fetchone()
    issues = []
    bad_rows = (f"SELECT _row_number, CASE WHEN len(_problems) > 0 THEN _problems "
                f"ELSE ['duplicate key: same key as an earlier row'] END AS _problems FROM numbered WHERE NOT ({good})")
    for row, problems in con.execute(f"{bad_rows} ORDER BY _row_number LIMIT 1000").fetchall():
        issues += [Issue(int(row), p.split(":", 1)[0], None, _vi(p), p, "Sửa giá trị theo quy định của biểu mẫu",
                         "Correct the value as the form requires") for p in problems]
    bronze, period = None, "all"
    if landed:
        bronze = data_dir / "bronze" / contract.id / f"{department}__{sha[:16]}.parquet"
        bronze.parent.mkdir(parents=True, exist_ok=True)
        tmp = bronze.with_suffix(".parquet.part")
        names = ", ".join(_q(n) for n in schema.names)
        con.execute(f"COPY (SELECT {names} FROM numbered WHERE {good}) "  # in file order, no sort needed
                    f"TO {_lit(str(tmp))} (FORMAT parquet, ROW_GROUP_SIZE 200000)")
        tmp.rename(bronze)
        period = _period(con, contract, schema, bronze)
        log(f"ingest: {source_file}: {landed:,} rows to bronze, {held:,} held back "
            f"({time.perf_counter() - started:.1f} s in all)")
    return BulkResult(int(landed), int(held), issues, bronze, period)


def _hold_back_duplicates(con, keys: list[str]) -> None:
    """The temp table `duplicates`: row numbers of good rows that repeat the key of an earlier good
    row. One aggregation finds whether there are any; the ranking runs only when there are."""
    con.execute("CREATE OR REPLACE TEMP TABLE duplicates (_row_number BIGINT)")
    key_list = ", ".join(keys)
    dups = con.execute(f"SELECT count(*) FROM (SELECT {key_list} FROM numbered WHERE len(_problems) = 0 "
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
