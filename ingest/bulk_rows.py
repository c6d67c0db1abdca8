"""The rows of a large CSV as numbered Arrow batches, each row carrying its official unit.

pyarrow parses the file in parallel and hands the batches over in order, so each row is numbered
as it passes and DuckDB can clean, type, check and write every row in one parallel pass (its own
CSV reader cannot number rows without going single-threaded).

- A row with more or fewer cells than the header is read again by Python's `csv` module and cut
  or padded, as the row path reads it (only a serial parse can say where such a row is, so a file
  that has one is parsed again serially); blank rows are left out, as the row path leaves them.
- Each row's unit is resolved once per distinct (name, code, district, unit list), the list
  decided by the row's date, with the row path's own parsers and resolver. A file names a few
  hundred units, not millions.
- Cells that repeat within a batch (dates, units, procedures, channels) are read once per
  distinct value, by the row path's parsers; the others (application ids) are left to DuckDB.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ingest.contract import Column, Contract
from ingest.units.rows import reference_date, resolve_row
from ingest.values import NUMERIC, SHAPE_DIGIT, SHAPE_DIGITS, SHAPE_MARKS, BadValue, parse_cell
from ntm_core.departments import province_of
from ntm_core.units import reference as ref

BLOCK_BYTES = 4 * 1024 * 1024  # also the longest row the reader takes
# How many blocks the reader may have read beyond the batches handed over. Left to itself, pyarrow's
# reader reads up to 32 blocks ahead (128 MB, and their parsed batches): memory that grew with the
# file's size up to that, measured 150-250 MB live at 10 M records against under 50 MB at 1 M.
BLOCKS_AHEAD = 6
UNIT_COLUMNS = ("_unit_code", "_unit_level", "_unit_list_version", "_unit_problem")
# The columns that decide a row's unit list, in the order `reference_date` takes them.
DATE_COLUMNS = ("year", "received_date", "decision_date", "period")
VERSION_CODES = {None: 0, ref.OLD: 1, ref.NEW: 2}
VERSIONS = {code: version for version, code in VERSION_CODES.items()}


# A column's cells in a batch are read in Python, one call per distinct value, when the batch has
# at most this many distinct values, or one per PREPARED_SHARE rows (dates, units, procedures and
# channels repeat; application ids do not, and are left to DuckDB's SQL).
PREPARED_MIN = 256
CELL_CACHE = 100_000  # distinct cells a column remembers the reading of (bounded, whatever the column holds)
PREPARED_SHARE = 32
VALUE_TYPES = {
    "text": pa.string(),
    "code": pa.string(),
    "number": pa.float64(),
    "percent": pa.float64(),
    "integer": pa.int64(),
    "year": pa.int64(),
    "date": pa.date32(),
}  # the others: text, as SQL gives them


class CellReader:
    """One column's reading of a raw cell, as the row path reads it: (value, problem), remembered."""

    def __init__(self, col: Column):
        self.col, self.type = col, VALUE_TYPES.get(col.type, pa.string())
        self._seen: dict[str | None, tuple] = {}
        self._varied = 0  # batches in a row too varied to read one value at a time

    @property
    def worth_trying(self) -> bool:
        """Whether to encode the next batch at all: a column too varied twice running (an id) stays with SQL."""
        return self._varied < 2

    def read(self, raw: str | None) -> tuple:
        if (known := self._seen.get(raw)) is not None:
            return known
        if len(self._seen) > CELL_CACHE:
            self._seen.clear()  # bounded, whatever the column holds
        try:
            value, problem = parse_cell(self.col.type, raw, self.col.width, self.col.decimal), None
        except BadValue:
            value, problem = None, f"{self.col.name}: cannot read the value as {self.col.type} '{raw.strip()}'"
        # Two threads may read the same value at once: both get the same answer.
        self._seen[raw] = known = (value if self.col.type in VALUE_TYPES else as_sql_text(value), problem)
        return known

    def columns(self, cells: pa.Array, encoded: pa.DictionaryArray | None) -> tuple[pa.Array, ...] | None:
        """(raw, value, problem) for a batch (`encoded`: its cells, dictionary-encoded): the raw
        cells emptied when Python read them, or None when they are too varied to read one by one."""
        if encoded is None:
            return None
        if len(encoded.dictionary) > max(PREPARED_MIN, len(cells) // PREPARED_SHARE):
            self._varied += 1
            return None
        self._varied = 0
        read = [self.read(raw) for raw in encoded.dictionary.to_pylist()]
        values = pa.array([v for v, _ in read], self.type).take(encoded.indices)
        problems = (
            pa.nulls(len(cells), pa.string())
            if all(p is None for _, p in read)
            else pa.array([p for _, p in read], pa.string()).take(encoded.indices)
        )
        return pa.nulls(len(cells), pa.string()), values, problems


def as_sql_text(value) -> str | None:
    """A value of a type SQL has no reader for (status, boolean, period), as the SQL side holds it."""
    return None if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def quiet_parse(col: Column, raw: str | None):
    """The row path's reading of a cell, or None where the row path would report a problem."""
    try:
        return parse_cell(col.type, raw, col.width, col.decimal)
    except BadValue:
        return None


@dataclass
class Layout:
    """Where the rows are: the file, its delimiter, how many records precede the first data row,
    how many cells the header has, and which of them the contract reads (index -> column)."""

    path: Path
    delimiter: str
    records_before: int
    width: int
    columns: dict[int, Column]
    fallback_year: int | None = None

    @property
    def mapping(self) -> dict[int, str]:
        return {index: col.name for index, col in self.columns.items()}


class UnitAnswers:
    """Each distinct unit key of the file, resolved once: code, level, list version or a problem."""

    def __init__(self, contract: Contract, layout: Layout, department: str):
        self.contract, self.province = contract, province_of(department)
        by_name = {col.name: index for index, col in layout.columns.items()}
        self.key_columns = [
            (by_name.get(n), layout.columns.get(by_name.get(n))) for n in ("unit_name", "unit_code", "district_name")
        ]
        self.date_columns = [(by_name[n], layout.columns[by_name[n]]) for n in DATE_COLUMNS if n in by_name]
        self.constant_version = _version({"year": layout.fallback_year}) if layout.fallback_year else None
        self.answers: list[tuple[str | None, ...]] = []
        self._index: dict[tuple, int] = {}
        self._versions: dict[tuple[str, str | None], int] = {}
        self._lock = threading.Lock()

    def columns(self, batch: pa.RecordBatch, encodings: dict[str, pa.DictionaryArray]) -> list[pa.Array]:
        """The four unit columns of a batch (`encodings`: those of its columns already encoded)."""
        digits, decoders = [], []
        for index, _col in self.key_columns:
            if index is None:
                digits.append(np.zeros(batch.num_rows, np.int64))
                decoders.append([None])
                continue
            encoded = _encoded(batch, index, encodings)
            digits.append(encoded.indices.to_numpy().astype(np.int64))
            decoders.append(encoded.dictionary.to_pylist())
        digits.append(self._version_codes(batch, encodings))
        decoders.append([VERSIONS[c] for c in range(len(VERSIONS))])
        composite = digits[0]
        for d, decoder in zip(digits[1:], decoders[1:]):
            composite = composite * len(decoder) + d
        distinct, inverse = np.unique(composite, return_inverse=True)
        ids = np.empty(len(distinct), np.int32)
        for i, value in enumerate(distinct.tolist()):
            key = []
            for decoder in reversed(decoders):
                value, digit = divmod(value, len(decoder))
                key.append(decoder[digit])
            ids[i] = self._answer(tuple(reversed(key)))
        rows = pa.array(ids[inverse.reshape(-1)])
        return [pa.array([a[i] for a in self.answers], pa.string()).take(rows) for i in range(4)]

    def _version_codes(self, batch: pa.RecordBatch, encodings: dict[str, pa.DictionaryArray]) -> np.ndarray:
        """0, 1 or 2 per row: no date, the list before 1 July 2025, the list from then."""
        codes = np.full(batch.num_rows, VERSION_CODES[self.constant_version], np.int64)
        if self.constant_version:
            return codes
        for index, col in reversed(self.date_columns):  # the first column that has a date wins
            encoded = _encoded(batch, index, encodings)
            per_value = np.array([self._version_code(col, v) for v in encoded.dictionary.to_pylist()], np.int64)
            column_codes = per_value[encoded.indices.to_numpy()]
            codes = np.where(column_codes > 0, column_codes, codes)
        return codes

    def _version_code(self, col: Column, raw: str | None) -> int:
        if (col.name, raw) not in self._versions:
            self._versions[(col.name, raw)] = VERSION_CODES[_version({col.name: quiet_parse(col, raw)})]
        return self._versions[(col.name, raw)]

    def _answer(self, key: tuple) -> int:
        with self._lock:  # batches are completed in two threads
            return self._answer_locked(key)

    def _answer_locked(self, key: tuple) -> int:
        if key not in self._index:
            name, code, district, version = key
            record = {
                n: quiet_parse(col, raw) if col else None
                for (_, col), n, raw in zip(
                    self.key_columns, ("unit_name", "unit_code", "district_name"), (name, code, district)
                )
            }
            got, level = resolve_row(record, self.contract.unit_levels, self.province, list_version=version)
            written = record["unit_name"] or record["unit_code"]
            self._index[key] = len(self.answers)
            self.answers.append(
                (got.unit.code, level, got.unit.list_version, None)
                if got.status == "matched"
                else (None, None, None, f"unit '{written}' {got.status}: {got.reason}")
            )
        return self._index[key]


def _encoded(batch: pa.RecordBatch, index: int, encodings: dict[str, pa.DictionaryArray]) -> pa.DictionaryArray:
    name = f"c{index}"
    return encodings[name] if name in encodings else pc.dictionary_encode(batch.column(name), null_encoding="encode")


def _version(record: dict) -> str | None:
    day = reference_date(record)
    return ref.list_version_for(dt.date.fromisoformat(day[:10])) if day else None


class NumberedRows:
    """A pass over the file: `batches()` gives them; afterwards `rows` says how many non-blank data
    rows there were. Each pass reads the file again. pyarrow parses in parallel (`threaded`) and
    keeps the batches in order, so counting numbers the rows; only a malformed row, which the
    parallel parser cannot place, needs a serial pass."""

    def __init__(
        self,
        layout: Layout,
        units: UnitAnswers | None,
        threaded: bool = True,
        python_cells: bool = True,
        count_shapes: bool = False,
    ):
        self.layout, self.units, self.threaded = layout, units, threaded
        self.python_cells = python_cells  # False: every cell goes to SQL as the file wrote it (the report's pass)
        # With `count_shapes`, each number column's cells are counted by shape (values.number_shape):
        # the decimal-mark votes of the whole file, not only of its head.
        self.shapes: dict[int, Counter] = {
            i: Counter() for i, col in layout.columns.items() if count_shapes and col.type in NUMERIC
        }
        self._shapes_lock = threading.Lock()
        self.rows = 0
        self.needs_serial = False  # a malformed row came up while parsing in parallel
        self._names = [f"c{i}" for i in range(layout.width)]
        self._read = [f"c{i}" for i in sorted(layout.columns)]
        self._malformed: list[tuple[int, list[str | None]]] = []
        self._cells = {f"c{i}": CellReader(col) for i, col in layout.columns.items()}
        self.schema = pa.schema(
            [(n, pa.string()) for n in self._read]
            + [("_row_number", pa.int64())]
            + ([(n, pa.string()) for n in UNIT_COLUMNS] if units else [])
            + [(f"v{n[1:]}", self._cells[n].type) for n in self._read]
            + [(f"p{n[1:]}", pa.string()) for n in self._read]
        )

    def serial(self) -> None:
        """Ready for another pass, in one thread: a malformed row came up while parsing in parallel."""
        self.threaded, self.rows, self.needs_serial, self._malformed = False, 0, False, []
        for counts in self.shapes.values():
            counts.clear()

    def _on_malformed(self, row) -> str:
        """A row whose cell count differs from the header's: read it with `csv`, keep the header's width.
        Parsed in parallel, the row has no number: the pass stops, to be made again serially."""
        if row.number is None:
            self.needs_serial = True
            return "error"
        cells = next(csv.reader(io.StringIO(row.text, newline=""), delimiter=self.layout.delimiter), [])
        cells = (cells + [None] * self.layout.width)[: self.layout.width]
        self._malformed.append((row.number, [c if c != "" else None for c in cells]))
        return "skip"

    def batches(self):
        with _PacedFile(self.layout.path, BLOCKS_AHEAD if self.threaded else None) as source:
            yield from self._batches(source)

    def _batches(self, source: _PacedFile):
        layout = self.layout
        reader = pcsv.open_csv(
            pa.PythonFile(source, mode="r"),
            read_options=pcsv.ReadOptions(
                column_names=self._names,
                skip_rows=layout.records_before,
                block_size=BLOCK_BYTES,
                use_threads=self.threaded,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=layout.delimiter,
                quote_char='"',
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=self._on_malformed,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in self._read},
                include_columns=self._read,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        self._next_row = layout.records_before + 1
        # Numbering is done in order; the rest of each batch's work (pyarrow and numpy, which let go of
        # the GIL) runs in two threads, a few batches ahead of DuckDB.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk-rows") as pool:
            ahead: deque = deque()
            for batch in reader:
                source.handed_over()
                if (numbered := self._number(batch)) is not None:
                    ahead.append(pool.submit(self._complete, numbered))
                if len(ahead) > 2:
                    yield ahead.popleft().result()
            if self._malformed:  # the file ends with malformed rows only
                empty = pa.RecordBatch.from_pydict({n: pa.array([], pa.string()) for n in self._read})
                if (numbered := self._number(empty)) is not None:
                    ahead.append(pool.submit(self._complete, numbered))
            while ahead:
                yield ahead.popleft().result()

    def _number(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """Number the rows of a batch, put its malformed rows back, drop blank rows."""
        # The reader parses ahead, so malformed rows of later batches may be known already: this
        # batch's stretch holds its rows plus the malformed rows whose numbers fall within it.
        end, malformed = self._next_row + batch.num_rows, []
        for number, cells in sorted(self._malformed, key=lambda m: m[0]):
            if number >= end and batch.num_rows:
                break
            malformed.append((number, cells))
            end += 1
        self._malformed = [m for m in self._malformed if m[0] >= end]
        numbers = np.arange(self._next_row, end, dtype=np.int64)
        self._next_row = end
        if malformed:
            numbers = numbers[~np.isin(numbers, [n for n, _ in malformed])]
        batch = batch.append_column("_row_number", pa.array(numbers))
        if malformed:
            batch = self._with_malformed(batch, malformed)
        batch = _without_blank_rows(batch, self._read)
        if batch.num_rows == 0:
            return None
        self.rows += batch.num_rows
        return batch

    def _complete(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with its units, and each cell either raw (for SQL) or read here."""
        columns = {name: batch.column(name) for name in batch.schema.names}
        for index, counts in self.shapes.items():
            shapes = number_shapes(columns[f"c{index}"])
            with self._shapes_lock:
                counts.update(shapes)
        encodings = {
            name: pc.dictionary_encode(columns[name], null_encoding="encode")
            for name in self._read
            if self._cells[name].worth_trying and self.python_cells
        }
        if self.units:
            columns.update(zip(UNIT_COLUMNS, self.units.columns(batch, encodings)))
        for name in self._read:  # each cell as c<i> (for SQL) or as v<i> and p<i> (read here)
            read = self._cells[name].columns(columns[name], encodings.get(name)) if self.python_cells else None
            if read is None:
                read = (
                    columns[name],
                    pa.nulls(batch.num_rows, self._cells[name].type),
                    pa.nulls(batch.num_rows, pa.string()),
                )
            columns[name], columns[f"v{name[1:]}"], columns[f"p{name[1:]}"] = read
        return pa.RecordBatch.from_arrays([columns[n] for n in self.schema.names], schema=self.schema)

    def _with_malformed(self, batch: pa.RecordBatch, malformed: list) -> pa.RecordBatch:
        """The batch with its malformed rows put back in place, read the way `csv` reads them."""
        extra = {name: [cells[int(name[1:])] for _, cells in malformed] for name in self._read}
        extra["_row_number"] = [n for n, _ in malformed]
        both = pa.Table.from_batches([batch, pa.RecordBatch.from_pydict(extra, schema=batch.schema)])
        if both.num_rows == 0:
            return batch
        return both.take(pc.sort_indices(both.column("_row_number"))).combine_chunks().to_batches()[0]


class _PacedFile(io.RawIOBase):
    """The file as pyarrow's reader reads it, a block at a time, at most `ahead` blocks beyond the
    batches handed over (`handed_over`): its own read-ahead is bounded by nothing smaller. A batch
    needs only its own block (a longer row is refused), so the reader has what the next batch needs;
    should a block give no batch, a read waits at most WAIT_S. `ahead` None: no pacing (a serial pass
    reads in the consumer's own thread). Reads run in pyarrow's IO thread, through Python: a pass
    given up must be closed at once (`bulk._segments`), or a reader still reading at the
    interpreter's exit aborts it. Closing ends the file: a waiting read returns nothing."""

    WAIT_S = 1.0

    def __init__(self, path: Path, ahead: int | None):
        self._file = open(path, "rb")  # noqa: SIM115 (closed with this object)
        self._room = threading.Semaphore(ahead) if ahead else None
        self._lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._room is not None and not self._file.closed:
            self._room.acquire(timeout=self.WAIT_S)
        with self._lock:
            return 0 if self._file.closed else self._file.readinto(buffer)

    def handed_over(self) -> None:
        if self._room is not None:
            self._room.release()

    def close(self) -> None:
        with self._lock:
            self._file.close()
        if self._room is not None:
            self._room.release()
        super().close()


def number_shapes(cells: pa.Array) -> dict[str, int]:
    """values.number_shape of the cells that have a decimal or group mark (no other gives evidence),
    counted: shape -> cells."""
    marked = cells.filter(pc.match_substring_regex(cells, SHAPE_MARKS))
    if not len(marked):
        return {}
    counts = pc.value_counts(pc.replace_substring_regex(marked, SHAPE_DIGITS, SHAPE_DIGIT))
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


def _without_blank_rows(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    """Rows whose read cells are all empty or whitespace are not data (as `readers.iter_nonempty`)."""
    filled = _filled(batch.column(names[0]))
    for name in names[1:]:
        if pc.all(filled).as_py():
            break  # usually after the first column: an id or a unit is in every row
        filled = pc.or_(filled, _filled(batch.column(name)))
    return batch if pc.all(filled).as_py() else batch.filter(filled)


def _filled(cells: pa.Array) -> pa.Array:
    """A cell with something in it: most are told by their first character, the rest trimmed."""
    present = pc.is_valid(cells)
    starts_blank = pc.fill_null(pc.match_substring_regex(pc.utf8_slice_codeunits(cells, 0, 1), r"^\s"), False)
    if not pc.any(starts_blank).as_py():
        return present
    trimmed = pc.utf8_length(pc.utf8_trim_whitespace(cells))
    return pc.fill_null(pc.and_(present, pc.greater(trimmed, 0)), False)
