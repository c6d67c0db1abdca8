import pytest

from ingest.values import BadValue, fold, parse_code, parse_integer, parse_number, parse_percent, parse_year


@pytest.mark.parametrize("raw, expected", [
    ("46,32", 46.32), ("1.797", 1797.0), ("118.420", 118420.0), ("1.797,5", 1797.5), ("98.9", 98.9),
    ("-", None), ("", None), (None, None), (71.25, 71.25), ("  12 ", 12.0), ("-5", -5.0), ("1 797", 1797.0),
])
def test_vietnamese_numbers(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1,2,3", "1,797.5", "1.79.7"])
def test_bad_numbers_are_reported_in_both_languages(raw):
    with pytest.raises(BadValue) as err:
        parse_number(raw)
    assert err.value.vi and err.value.en and err.value.fix_vi and err.value.fix_en


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
