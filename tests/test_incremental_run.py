"""One small file beside an already-published lake does only its own work: dbt builds the models
downstream of the source that received rows (and the freshness the ledger feeds), validation reads
only the marts whose content changed, and publishing writes only those; the rest are "unchanged"
without being read again. On the real local CKAN."""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq
import pytest
from helpers import copy_build, drop

from ntm import pipeline

pytestmark = pytest.mark.portal
SMALL_FILE = (
    "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
    "30076;Thị trấn Mỹ Thọ;2024;93,5\n"
    "30079;Xã Gáo Giồng;2024;81,25\n"
)


def downstream_marts(data_dir, source: str) -> set[str]:
    """The marts dbt's own lineage (manifest child_map) puts downstream of a source."""
    manifest = json.loads((data_dir / "dbt_target" / "manifest.json").read_text(encoding="utf-8"))
    found, todo = set(), [next(i for i in manifest["sources"] if i.endswith(source))]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            node = manifest["nodes"].get(child, {})
            if node.get("resource_type") == "model":
                todo.append(child)
                if node["fqn"][1] == "marts":
                    found.add(node["name"])
    return found


def rows(parquet) -> list:
    return sorted(map(repr, pq.read_table(parquet).to_pylist()))


def test_one_small_file_rebuilds_validates_and_publishes_only_the_marts_it_changes(
    ckan, prefix, sample_build, tmp_path, capsys
):
    dropzone, data_dir = copy_build(sample_build, tmp_path)
    first = pipeline.run_all(dropzone, data_dir)  # the lake, published; nothing new to ingest
    assert first.transform.success and not first.validation.blocked
    before = {m: rows(p) for m, p in pipeline.current_marts(data_dir).items()}

    name = "HaTangSo_2024_bosung.csv"
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", name=name, content=SMALL_FILE.encode())
    started = time.monotonic()
    second = pipeline.run_all(dropzone, data_dir)
    seconds = time.monotonic() - started
    print(f"one small file to the portal: {seconds:.1f} s")

    assert [f.status for f in second.ingest.files if f.file_name == name] == ["landed"]
    # Built: the marts downstream of bronze.digital_infrastructure, and the freshness (the ledger).
    affected = downstream_marts(data_dir, "bronze.digital_infrastructure") | {"fact_dataset_freshness"}
    assert second.transform.plan == "changed"
    assert set(second.transform.marts) == affected
    assert "dim_admin_unit" not in affected and "fact_cooperatives" not in affected
    # Validated: only the marts whose content changed; the others passed before and are not read.
    after = {m: rows(p) for m, p in pipeline.current_marts(data_dir).items()}
    changed = {m for m in after if after[m] != before[m]}
    assert "fact_digital_infrastructure" in changed and changed <= affected
    assert set(second.validation.marts) == changed and not second.validation.blocked
    assert set(second.validation.unchanged) == set(after) - changed
    # Published: those again, the others "unchanged" without a word to their datasets.
    statuses = {d.mart: d.status for d in second.publish.datasets}
    assert {m for m, s in statuses.items() if s != "unchanged"} == changed
    assert set(statuses) == set(after)
    log = capsys.readouterr().err
    assert log.count("unchanged (not read again)") == len(after) - len(changed)
    # The new rows are on the portal.
    digital = next(d for d in second.publish.datasets if d.mart == "fact_digital_infrastructure")
    records = ckan.action.datastore_search(
        resource_id=digital.resources["csv"], filters={"year": 2024}, sort="unit_code"
    )["records"]
    assert [(r["unit_code"], r["fixed_broadband_household_pct"]) for r in records] == [
        ("30076", 93.5),
        ("30079", 81.25),
    ]
