"""The portal as the public sees it: a headless Chromium (Debian's `chromium`) opens the dataset
page and the resource page, and the DataStore preview shows the rows. Screenshots are kept in
build/screenshots/ for a person to look at."""

import pytest
from helpers import REPO, chromium

from publish.run import publish_marts

pytestmark = pytest.mark.portal
SCREENSHOTS = REPO / "build" / "screenshots"


def test_dataset_and_resource_pages_show_resources_and_the_table_preview(ckan, marts_copy, prefix):
    import duckdb

    mart = marts_copy / "marts" / "fact_cooperatives.parquet"
    [published] = publish_marts({"fact_cooperatives": mart}, {}, marts_copy).datasets
    package = ckan.action.package_show(id=published.name)
    csv_res = next(r for r in package["resources"] if r["ntm_kind"] == "csv")
    [view] = ckan.action.resource_view_list(id=csv_res["id"])
    assert view["view_type"] == "datatables_view"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    dataset_url = f"{ckan.address}/dataset/{published.name}"
    page = chromium("--dump-dom", dataset_url)
    assert "Hợp tác xã nông nghiệp" in page
    assert "Dữ liệu (CSV, UTF-8)" in page and "Dữ liệu (Parquet)" in page
    chromium(f"--screenshot={SCREENSHOTS / 'dataset.png'}", dataset_url)

    resource_url = f"{dataset_url}/resource/{csv_res['id']}"
    page = chromium("--dump-dom", resource_url)
    assert f"/view/{view['id']}" in page  # the preview is embedded on the resource page
    chromium(f"--screenshot={SCREENSHOTS / 'resource.png'}", resource_url)

    preview = chromium("--dump-dom", f"{resource_url}/view/{view['id']}")
    names = [r[0] for r in duckdb.sql(f"select cooperative_name from '{mart}'").fetchall()]
    assert "trong tổng số 5 mục" in preview  # DataTables: "showing 1 to 5 of 5 entries"
    assert all(name in preview for name in names)
    for png in ("dataset.png", "resource.png"):
        data = (SCREENSHOTS / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000
