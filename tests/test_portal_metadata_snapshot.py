"""The portal shows each mart as it showed it before its metadata moved home (issue #30): the sample
marts are published under a fresh prefix and each dataset's `package_show`, reduced to what is about
the mart (name, titles, descriptions, tags, update frequency, organization, and every DataStore
table's data dictionary but its indicator declarations), is compared with
`tests/fixtures/portal_metadata_snapshot.json`.

The snapshot was taken from the code before the move. To take it again on purpose (a title reworded,
a column added), run this test with NTM_UPDATE_SNAPSHOT=1: it writes the snapshot and skips, and the
change to the JSON file is reviewed like any other."""

from __future__ import annotations

import json
import os

import pytest
from helpers import REPO, copy_marts, dataset_prefix

from publish.datastore import table_fields
from publish.run import publish_marts

pytestmark = pytest.mark.portal

SNAPSHOT = REPO / "tests" / "fixtures" / "portal_metadata_snapshot.json"
# The dataset's fields that describe the mart (not its content: no hash, version, period or sources).
FIELDS = ("title", "title_en", "notes", "notes_en", "tags_en", "update_frequency", "update_frequency_en", "frequency")


@pytest.fixture(scope="module")
def shown(sample_build, ckan, tmp_path_factory) -> dict[str, dict]:
    """Every sample mart published once under a prefix of its own: {mart: what the portal shows of it}."""
    _, built = sample_build
    data_dir = copy_marts(built, tmp_path_factory.mktemp("metadata_snapshot") / "data")
    with dataset_prefix(ckan, "snapshot") as prefix:
        marts = {p.stem: p for p in sorted((data_dir / "marts").glob("*.parquet"))}
        result = publish_marts(marts, {}, data_dir)
        assert result.refused == {}
        yield {d.mart: _about_the_mart(ckan, ckan.action.package_show(id=d.name), prefix) for d in result.datasets}


def _about_the_mart(ckan, package: dict, prefix: str) -> dict:
    """`package_show` reduced to what the mart's metadata decides."""
    return {
        "name": package["name"].removeprefix(prefix),
        **{field: package.get(field) for field in FIELDS},
        "tags": sorted(t["name"] for t in package.get("tags", [])),
        "organization": package["organization"]["name"],
        "data_dictionaries": {
            r["ntm_kind"]: [_without_indicator(f) for f in table_fields(ckan, r["id"])]
            for r in package["resources"]
            if r.get("datastore_active")
        },
    }


def _without_indicator(field: dict) -> dict:
    """A data-dictionary field without its indicator declaration (`ntm_indicator`): that one is the
    indicator's own (meta.indicator, tested by tests/test_portal_places.py) and changes with it."""
    return {**field, "info": {k: v for k, v in field["info"].items() if k != "ntm_indicator"}}


def _differences(got: dict[str, dict], want: dict[str, dict]) -> dict[str, list[str]]:
    """{mart: the fields that differ}, a mart only on one side as ['(missing)'] or ['(new)']."""
    found = {mart: ["(missing)"] for mart in want.keys() - got.keys()}
    found |= {mart: ["(new)"] for mart in got.keys() - want.keys()}
    for mart in got.keys() & want.keys():
        if changed := sorted(k for k in got[mart].keys() | want[mart].keys() if got[mart].get(k) != want[mart].get(k)):
            found[mart] = changed
    return found


def test_the_portal_shows_each_mart_as_the_snapshot_does(shown):
    if os.environ.get("NTM_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(shown, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"snapshot written to {SNAPSHOT.relative_to(REPO)}: review the change before committing it")
    want = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert _differences(shown, want) == {}
    assert shown == want
    # The comparison is about something: every sample mart, each with a data dictionary.
    assert len(want) == 16 and all(d["data_dictionaries"]["csv"] for d in want.values())
