"""What the portal publishes passes its users' own tools (issue #28): every dataset's data package
validates with `frictionless`, and the XLSX download opens in openpyxl and in LibreOffice with the
mart's values: codes with their leading zeros, numbers as numbers, dates as dates, formulas
neutralised as in the CSV. The sample marts are published once to the real local CKAN."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import copy_marts, dataset_prefix

from expectations.from_dbt import dbt_model
from ntm_core.marts import primary_key
from publish.datastore import fields_for
from publish.files import neutralise, published_order
from publish.metadata import column_docs, portal_descriptions
from publish.run import publish_mart, publish_marts
from publish.spreadsheet import DATA_SHEET, DICTIONARY_SHEET, header, write_xlsx

UNITS = "ntm-danh-muc-don-vi-hanh-chinh"
# LibreOffice's CSV export: comma, double quote, UTF-8, values as stored (not as formatted).
LO_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return resp.read()


def _resources(ckan, name: str) -> dict[str, dict]:
    return {r["ntm_kind"]: r for r in ckan.action.package_show(id=name)["resources"]}


@pytest.fixture(scope="module")
def published(sample_build, ckan, tmp_path_factory):
    """Every sample mart published once under a prefix of its own: (data dir, prefix, {mart: dataset})."""
    _, built = sample_build
    data_dir = copy_marts(built, tmp_path_factory.mktemp("open_data") / "data")
    with dataset_prefix(ckan, "open-data") as prefix:
        result = publish_marts(_marts(data_dir), {}, data_dir)
        assert result.refused == {}
        yield data_dir, prefix, {d.mart: d for d in result.datasets}


def _marts(data_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((data_dir / "marts").glob("*.parquet"))}


# ------------------------------------------------------------------ frictionless


def _local_copy(descriptor: dict, folder: Path, cache: dict[str, bytes]) -> Path:
    """The data package with each file downloaded beside it, its path pointed at the copy."""
    folder.mkdir(parents=True)
    for resource in descriptor["resources"]:
        if resource["path"] not in cache:
            cache[resource["path"]] = _get(resource["path"])
        local = f"{resource['name']}.{resource['format']}"
        (folder / local).write_bytes(cache[resource["path"]])
        resource["path"] = local
    target = folder / "datapackage.json"
    target.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.mark.portal
def test_every_data_package_validates_with_frictionless(ckan, published, tmp_path):
    from frictionless import validate

    data_dir, prefix, datasets = published
    assert set(datasets) == set(portal_descriptions(data_dir))  # the 16 sample marts, all published
    errors, packages, cache = {}, {}, {}
    for mart, dataset in sorted(datasets.items()):
        packages[mart] = json.loads(_get(_resources(ckan, dataset.name)["datapackage"]["url"]))
        report = validate(str(_local_copy(json.loads(json.dumps(packages[mart])), tmp_path / mart, cache)))
        found = [f"{e.type}: {e.message}" for task in report.tasks for e in task.errors]
        found += [e.message for e in report.errors]
        if found or not report.valid:
            errors[mart] = found[:5]
    assert errors == {}

    for mart, package in packages.items():
        csv_res, parquet_res = package["resources"][:2]
        names = pq.read_schema(data_dir / "marts" / f"{mart}.parquet").names
        assert [f["name"] for f in csv_res["schema"]["fields"]] == published_order(names)
        assert [f["name"] for f in parquet_res["schema"]["fields"]] == names  # the Parquet file's own order
        key = column_docs(mart, data_dir)[1]["primary_key"]  # the dbt manifest's primary_key constraint
        assert csv_res["schema"]["primaryKey"] == parquet_res["schema"]["primaryKey"] == key, mart
        assert key and key == primary_key(dbt_model(mart)), mart  # the key the validation suite checks
    # The marts' relationships (dbt tests) as foreign keys: to another dataset, in the package as the
    # CSV its own data package describes, and within a table.
    digital = packages["fact_digital_infrastructure"]
    assert {"fields": ["unit_key"], "reference": {"resource": prefix + UNITS, "fields": ["unit_key"]}} in digital[
        "resources"
    ][0]["schema"]["foreignKeys"]
    [units] = digital["resources"][2:]
    assert units["name"] == prefix + UNITS and units["path"] == _resources(ckan, prefix + UNITS)["csv"]["url"]
    units_own = packages["dim_admin_unit"]
    assert units["schema"]["fields"] == units_own["resources"][0]["schema"]["fields"]
    assert {"fields": ["parent_key"], "reference": {"resource": "", "fields": ["unit_key"]}} in units_own["resources"][
        0
    ]["schema"]["foreignKeys"]


# ------------------------------------------------------------------ XLSX


def _libreoffice_csv(books: list[Path], tmp: Path) -> dict[str, list[list[str]]]:
    """Each workbook's first sheet as LibreOffice reads it, exported as CSV: {file stem: rows}."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is not installed (scripts/bootstrap.sh installs Debian's libreoffice-calc-nogui)"
    out = tmp / "libreoffice"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp}/lo", "--headless", "--convert-to", LO_CSV, "--outdir", str(out)]
        + [str(b) for b in books],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return {p.stem: list(csv.reader(p.open(encoding="utf-8", newline=""))) for p in out.glob("*.csv")}


def _as_openpyxl_reads(got, want) -> bool:
    """A cell as openpyxl reads it holds the mart's value, with the mart's type."""
    if want is None or want == "":
        return got in (None, "")
    if isinstance(want, str):
        return isinstance(got, str) and got == neutralise(want)
    if isinstance(want, bool):
        return got is want
    if isinstance(want, int):
        return type(got) is int and got == want
    if isinstance(want, float):
        return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-12)
    if isinstance(want, dt.datetime):
        return isinstance(got, dt.datetime) and abs(got - want) < dt.timedelta(milliseconds=1)
    if isinstance(want, dt.date):
        return isinstance(got, dt.datetime) and got.date() == want and got.time() == dt.time()
    return got == want


def _as_libreoffice_reads(text: str, want) -> bool:
    """A cell as LibreOffice exports it holds the mart's value."""
    if want is None or want == "":
        return text == ""
    if isinstance(want, str):
        return text == neutralise(want)
    if isinstance(want, bool):
        return text == ("TRUE" if want else "FALSE")
    if isinstance(want, int):
        return re.fullmatch(r"-?\d+", text) is not None and int(text) == want
    if isinstance(want, float):
        return math.isclose(float(text), want, rel_tol=1e-9)
    if isinstance(want, dt.datetime):
        return abs(dt.datetime.fromisoformat(text) - want) < dt.timedelta(seconds=1)
    if isinstance(want, dt.date):
        return text == want.isoformat()
    return text == str(want)


def _compare(book: Path, parquet: Path, fields: list[dict], libreoffice: list[list[str]]) -> tuple[list, int]:
    """Where the workbook's data sheet differs from the mart, in openpyxl or in LibreOffice (first
    ones), and how many codes with a leading zero it holds."""
    import openpyxl

    names = [f["id"] for f in fields]
    headers = [header(f["info"]["label_translated"]["vi"], f["info"]["label_translated"]["en"]) for f in fields]
    mart = [[row[n] for n in names] for row in pq.read_table(parquet).to_pylist()]
    workbook = openpyxl.load_workbook(book, read_only=True)
    assert workbook.sheetnames == [DATA_SHEET, DICTIONARY_SHEET]
    sheet = [list(r) for r in workbook[DATA_SHEET].iter_rows(values_only=True)]
    workbook.close()
    differences = []
    if sheet[0] != headers or libreoffice[0] != headers:
        differences.append(("header", sheet[0], libreoffice[0]))
    if len(sheet) != len(mart) + 1 or len(libreoffice) != len(mart) + 1:
        differences.append(("rows", len(sheet) - 1, len(libreoffice) - 1, len(mart)))
    zeros = 0
    for i, (want_row, got_row, text_row) in enumerate(zip(mart, sheet[1:], libreoffice[1:]), start=2):
        text_row += [""] * (len(names) - len(text_row))  # LibreOffice leaves trailing empty cells out
        for name, want, got, text in zip(names, want_row, got_row, text_row):
            if not (_as_openpyxl_reads(got, want) and _as_libreoffice_reads(text, want)):
                differences.append((f"row {i}", name, want, got, text))
            zeros += isinstance(want, str) and re.fullmatch(r"0\d+", want) is not None and text == want
    return differences[:5], zeros


@pytest.mark.portal
def test_the_xlsx_download_holds_the_marts_values_in_openpyxl_and_libreoffice(ckan, published, tmp_path):
    import openpyxl

    data_dir, _, datasets = published
    books, tables = {}, {}
    for mart, dataset in datasets.items():
        resources = _resources(ckan, dataset.name)
        assert resources["xlsx"]["format"] == "XLSX" and "XLSX" in resources["xlsx"]["description"]
        books[mart] = tmp_path / f"{mart}.xlsx"
        books[mart].write_bytes(_get(resources["xlsx"]["url"]))
        tables[mart] = ckan.action.datastore_info(id=resources["csv"]["id"])["fields"]
    libreoffice = _libreoffice_csv(list(books.values()), tmp_path)
    differences, zeros = {}, 0
    for mart, book in books.items():
        parquet = data_dir / "marts" / f"{mart}.parquet"
        columns, meta = column_docs(mart, data_dir)
        fields = fields_for(parquet, columns, meta.get("primary_key") or [])
        found, kept = _compare(book, parquet, fields, libreoffice[mart])
        zeros += kept
        if found:
            differences[mart] = found
        # The data dictionary sheet is the DataStore's data dictionary.
        workbook = openpyxl.load_workbook(book, read_only=True)
        dictionary = [list(r) for r in workbook[DICTIONARY_SHEET].iter_rows(values_only=True)][1:]
        workbook.close()
        table = [f for f in tables[mart] if f["id"] != "_id"]
        assert [(r[0], r[1], r[2], r[4] or "", r[5] or "") for r in dictionary] == [
            (
                f["id"],
                f["info"]["label_translated"]["vi"],
                f["info"]["label_translated"]["en"],
                f["info"]["notes_translated"]["vi"],
                f["info"]["notes_translated"]["en"],
            )
            for f in table
        ], mart
    assert differences == {}
    assert zeros > 100  # unit and province codes such as 03664, 01 kept as written


@pytest.mark.portal
def test_the_csv_keeps_its_bom_and_says_how_to_open_it(ckan, published):
    _, _, datasets = published
    name = datasets["fact_digital_infrastructure"].name
    resources = _resources(ckan, name)
    assert _get(resources["csv"]["url"]).startswith("\ufeff".encode())
    description = resources["csv"]["description"]
    assert "UTF-8" in description and "LibreOffice" in description and "XLSX" in description
    page = _get(f"{ckan.address}/dataset/{name}/resource/{resources['csv']['id']}").decode()
    assert "LibreOffice" in page


def _modified(ckan, names: list[str]) -> dict[str, str]:
    return {
        r["id"]: r["last_modified"] or r["metadata_modified"]
        for name in names
        for r in ckan.action.package_show(id=name)["resources"]
    }


@pytest.mark.portal
def test_publishing_again_uploads_nothing_and_restores_what_is_missing(ckan, published):
    data_dir, _, datasets = published
    names = [d.name for d in datasets.values()]
    before = _modified(ckan, names)
    again = publish_marts(_marts(data_dir), {}, data_dir)
    assert {d.status for d in again.datasets} == {"unchanged"}
    # Through the full comparison too (the publishing code changed, say): nothing is uploaded.
    for mart in ("dim_admin_unit", "fact_digital_infrastructure"):
        parquet = data_dir / "marts" / f"{mart}.parquet"
        assert publish_mart(ckan, mart, parquet, None, data_dir).status == "unchanged"
    assert _modified(ckan, names) == before

    # A dataset published before the XLSX existed gets it.
    digital = datasets["fact_digital_infrastructure"].name
    ckan.action.resource_delete(id=_resources(ckan, digital)["xlsx"]["id"])
    parquet = data_dir / "marts" / "fact_digital_infrastructure.parquet"
    assert publish_mart(ckan, "fact_digital_infrastructure", parquet, None, data_dir).status == "updated"
    assert "xlsx" in _resources(ckan, digital)
    # A data package that is not the one the datasets would give now (a dataset its foreign keys point
    # to changed its schema) is uploaded again, alone.
    cooperatives = datasets["fact_cooperatives"].name
    described = _resources(ckan, cooperatives)["datapackage"]
    ckan.action.resource_patch(id=described["id"], ntm_digest="stale")
    before = _modified(ckan, [cooperatives])
    parquet = data_dir / "marts" / "fact_cooperatives.parquet"
    assert publish_mart(ckan, "fact_cooperatives", parquet, None, data_dir).status == "updated"
    after = _modified(ckan, [cooperatives])
    assert [r for r in after if after[r] != before[r]] == [described["id"]]
    assert _resources(ckan, cooperatives)["datapackage"]["ntm_digest"] != "stale"


# ------------------------------------------------------------------ XLSX cells, without the portal

# What spreadsheets get wrong in a CSV: codes with leading zeros, codes that look like numbers or
# dates, English labels that look like dates, formulas (plain and disguised, issue #26).
CODES = ["00001", "03664", "01", "0", "8.1", "15.2", "1.001612", "1E5", "0x1F", "1-2", "3/4", "+84912"]
LABELS = [
    "Mar-21",
    "1-2",
    "12/2024",
    "May 2024",
    "2024-01",
    "TRUE",
    "1e5",
    "=1+1",
    '＝HYPERLINK("http://evil.example")',
    "\u200b=1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1)",
]


def test_codes_labels_and_formulas_survive_openpyxl_and_libreoffice(tmp_path):
    n = len(CODES)
    schema = pa.schema(
        [
            ("unit_code", pa.string()),
            ("label", pa.string()),
            ("value", pa.float64()),
            ("count", pa.int64()),
            ("day", pa.date32()),
            ("seen_at", pa.timestamp("us")),
            ("met", pa.bool_()),
        ]
    )
    rows = [
        {
            "unit_code": CODES[i],
            "label": LABELS[i],
            "value": [46.32, 1797.0, None, -0.5, 1e-7, 83.66, 0.1 + 0.2, 1e15][i % 8],
            "count": [1, None, 0, -5, 2**40][i % 5],
            "day": [dt.date(2024, 3, 1), None, dt.date(1999, 12, 31)][i % 3],
            "seen_at": [dt.datetime(2024, 3, 1, 10, 30, 5), None][i % 2],
            "met": [True, False, None][i % 3],
        }
        for i in range(n)
    ]
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), parquet)
    columns = {"unit_code": {"label": "Mã ĐVHC", "label_en": "Unit code", "notes": "Mã / Code"}}
    book = write_xlsx(parquet, tmp_path / "m.xlsx", columns, ["unit_code"])
    fields = fields_for(parquet, columns, ["unit_code"])
    differences, zeros = _compare(book, parquet, fields, _libreoffice_csv([book], tmp_path)["m"])
    assert differences == [] and zeros == 3
    assert header("Mã ĐVHC", "Unit code") == "Mã ĐVHC\nUnit code" and header("year", "year") == "year"


def test_a_table_longer_than_a_sheet_goes_on_in_the_next(tmp_path, monkeypatch):
    import openpyxl

    from publish import spreadsheet

    monkeypatch.setattr(spreadsheet, "SHEET_ROWS", 4)  # a header and three rows per sheet
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.table({"code": [f"{i:05d}" for i in range(7)]}), parquet)
    workbook = openpyxl.load_workbook(write_xlsx(parquet, tmp_path / "m.xlsx", {}, []), read_only=True)
    assert workbook.sheetnames == [DATA_SHEET, f"{DATA_SHEET} (2)", f"{DATA_SHEET} (3)", DICTIONARY_SHEET]
    sheets = [[r[0] for r in workbook[s].iter_rows(values_only=True)] for s in workbook.sheetnames[:3]]
    assert sheets == [["code", "00000", "00001", "00002"], ["code", "00003", "00004", "00005"], ["code", "00006"]]


# ------------------------------------------------------------------ foreign keys, from dbt's manifest


def _relationship_test(column: str, to: str, **config) -> dict:
    return {
        "resource_type": "test",
        "package_name": "ntm_lakehouse",
        "attached_node": "model.ntm_lakehouse.fact_x",
        "column_name": column,
        "test_metadata": {"name": "relationships", "kwargs": {"to": f"ref('{to}')", "field": "unit_key"}},
        "config": {"severity": "ERROR", **config},
    }


def test_foreign_keys_are_the_relationships_dbt_allows_no_exception_to():
    from publish.datapackage import ForeignKey, relationships

    manifest = {
        "nodes": {
            "a": _relationship_test("unit_key", "dim_admin_unit"),
            "b": _relationship_test("current_unit_key", "dim_admin_unit", error_if="!=0"),
            "c": _relationship_test("criterion_key", "dim_criterion", severity="warn"),
            "d": _relationship_test("old_key", "dim_admin_unit", where="year > 2020"),
            "e": _relationship_test("other_key", "dim_admin_unit", error_if=">10"),
            "f": {**_relationship_test("unit_key", "dim_period"), "attached_node": "model.ntm_lakehouse.fact_y"},
            "g": {"resource_type": "model", "package_name": "ntm_lakehouse"},
        }
    }
    assert relationships("fact_x", manifest) == [
        ForeignKey("current_unit_key", "dim_admin_unit", "unit_key"),
        ForeignKey("unit_key", "dim_admin_unit", "unit_key"),
    ]
