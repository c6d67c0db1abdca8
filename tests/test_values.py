import duckdb
import pytest

from ingest.values import (
    COMMA,
    DOT,
    BadValue,
    decimal_mark,
    fold,
    parse_code,
    parse_integer,
    parse_number,
    parse_percent,
    parse_year,
)

ERROR = "error"
# One table of cells for the number rule: the row path (values.parse_number) and the bulk path's
# SQL (bulk._number) must both read each cell so, in the column's convention of the file.
NUMBER_CELLS = [
    ("46,32", COMMA, 46.32),
    ("1.797", COMMA, 1797.0),
    ("118.420", COMMA, 118420.0),
    ("1.797,5", COMMA, 1797.5),
    ("1.797.000", COMMA, 1797000.0),
    ("0,125", COMMA, 0.125),
    ("1,797", COMMA, 1.797),
    ("-5", COMMA, -5.0),
    ("-0,5", COMMA, -0.5),
    ("  12 ", COMMA, 12.0),
    ("1 797", COMMA, 1797.0),
    # grouped the other way: held back, never reinterpreted; a plain decimal has one reading only
    ("1,797.5", COMMA, ERROR),
    ("1,797,000", COMMA, ERROR),
    ("98.9", COMMA, 98.9),
    ("0.125", COMMA, 0.125),
    ("46.3215", COMMA, 46.3215),
    ("46.32", DOT, 46.32),
    ("0.125", DOT, 0.125),
    ("12.500", DOT, 12.5),
    ("1,797", DOT, 1797.0),
    ("1,797.5", DOT, 1797.5),
    ("1,797,000", DOT, 1797000.0),
    ("-0.5", DOT, -0.5),
    ("1.797,5", DOT, ERROR),
    ("1.797.000", DOT, ERROR),
    ("46,32", DOT, 46.32),
    ("0,125", DOT, 0.125),
    # not numbers in either
    ("abc", COMMA, ERROR),
    ("1,2,3", COMMA, ERROR),
    ("1.79.7", COMMA, ERROR),
    ("17.97,5", COMMA, ERROR),
    ("01.797", COMMA, ERROR),
    ("+", COMMA, ERROR),
    ("1.2.3", DOT, ERROR),
    ("12,34", DOT, 12.34),
    ("1,2,3", DOT, ERROR),
]


def _python(raw, decimal):
    try:
        return parse_number(raw, decimal)
    except BadValue as err:
        assert err.vi and err.en and err.fix_vi and err.fix_en
        return ERROR


@pytest.mark.parametrize("raw, decimal, expected", NUMBER_CELLS)
def test_numbers_in_the_files_convention(raw, decimal, expected):
    assert _python(raw, decimal) == expected


def test_the_bulk_paths_sql_reads_numbers_as_the_python_rule_does():
    from ingest.bulk import _number

    con = duckdb.connect()
    for raw, decimal, expected in NUMBER_CELLS:
        [(value,)] = con.execute(f"select {_number('cell', decimal)} from (select trim(?) as cell)", [raw]).fetchall()
        assert (ERROR if value is None else value) == expected, (raw, decimal)


def test_a_columns_decimal_mark_is_decided_from_its_unambiguous_cells():
    assert decimal_mark(["0.125", "12.500", "3"]) == DOT  # 12.500 is then twelve and a half
    assert decimal_mark(["46,32", "1.797", "98.9", "3,5"]) == COMMA  # 1.797 is then 1797
    assert decimal_mark(["1.797", "12.500", 3.5, None]) == COMMA  # nothing unambiguous: Vietnamese


def _shape_cells() -> list[str]:
    """The table's cells, and every way of writing 1-4 digit groups with marks, signs, spaces,
    zeros, full-width digits and a percent sign."""
    import itertools

    groups = ["0", "00", "5", "12", "120", "007", "1234", "９"]
    marks = [".", ",", " ", "\u202f"]
    cells = [raw for raw, _, _ in NUMBER_CELLS] + ["", "-", "n/a", "  ", "１.２３４,５", "50,61%", "-0.5 %"]
    for n in (1, 2, 3):
        for parts in itertools.product(groups, repeat=n):
            for between in itertools.product(marks, repeat=n - 1):
                text = parts[0] + "".join(m + p for m, p in zip(between, parts[1:], strict=True))
                cells += [text, "-" + text, f" {text}%"]
    return cells


def test_a_number_cells_shape_gives_the_same_decimal_evidence():
    """The bulk path votes on shapes (digits 1-9 as 1), counted in Arrow: the same evidence as the
    cells themselves, and Arrow's shapes are Python's."""
    import pyarrow as pa

    from ingest.bulk_rows import number_shapes
    from ingest.values import SHAPE_MARKS, decimal_evidence, number_shape, votes_of_shapes

    cells = _shape_cells()
    assert len(cells) > 2000
    evidence = [decimal_evidence(c) for c in cells]
    assert {COMMA, DOT, None} <= set(evidence)
    assert [decimal_evidence(number_shape(c)) for c in cells] == evidence
    shapes = number_shapes(pa.array(cells + [None]))
    assert sum(shapes.values()) == sum(1 for c in cells if any(m in c for m in SHAPE_MARKS.strip("[]")))
    assert votes_of_shapes(shapes) == {m: evidence.count(m) for m in (COMMA, DOT)}


def test_no_data_is_not_zero():
    assert [parse_number(raw) for raw in ("-", "", None, 71.25)] == [None, None, None, 71.25]


def test_percent_integer_year_code():
    assert parse_percent("64,7%") == 64.7
    assert parse_percent("100%") == 100.0
    assert parse_integer("1.797") == 1797
    with pytest.raises(BadValue):
        parse_integer("2,5")
    assert parse_year("Năm 2023") == 2023
    assert parse_year(2023.0) == 2023
    assert parse_code("3649", width=5) == "03649"
    assert parse_code(3649, width=5) == "03649"
    with pytest.raises(BadValue):
        parse_code("36A49", width=5)


def test_fold_is_for_matching_only():
    assert fold("Tỷ lệ hộ có Internet cáp quang (%)") == "ty le ho co internet cap quang"
    assert fold("ĐƯỜNG") == "duong"
