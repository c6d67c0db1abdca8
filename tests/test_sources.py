"""A department that publishes its file over HTTP: fetched from a server on loopback, then ingested."""
import functools
import http.server
import threading

import duckdb
import pytest

from ntm import pipeline

CSV = ("Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
       "03664;Xã Chiềng Xôm;2023;46,32\n03658;Xã Chiềng Cọ;2023;39,8\n").encode()


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "ha-tang-so-2023.csv").write_bytes(CSV)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_source_is_fetched_into_its_department_folder(http_server, tmp_path, monkeypatch, dropzone, data_dir):
    registry = tmp_path / "departments.yaml"
    registry.write_text(
        "so-khcn-son-la:\n  province: Sơn La\n  sources:\n"
        f"    - dataset: digital_infrastructure\n      url: {http_server}/ha-tang-so-2023.csv\n"
        "so-khcn-dong-thap:\n  province: Đồng Tháp\n  sources:\n"
        f"    - dataset: digital_infrastructure\n      url: {http_server}/missing.csv\n", encoding="utf-8")
    monkeypatch.setenv("NTM_DEPARTMENTS", str(registry))
    result = pipeline.ingest(dropzone, data_dir, "r1")
    assert [(f.department, f.status, f.rows_landed) for f in result.files] == [("so-khcn-son-la", "landed", 2)]
    landed = dict(duckdb.sql(f"select unit_code, fixed_broadband_household_pct from read_parquet("
                             f"'{data_dir}/bronze/digital_infrastructure/*.parquet')").fetchall())
    assert landed == {"03664": 46.32, "03658": 39.8}
    assert (dropzone / "so-khcn-son-la" / "digital_infrastructure" / "ha-tang-so-2023.csv").read_bytes() == CSV
    # Fetching again changes nothing.
    again = pipeline.ingest(dropzone, data_dir, "r2")
    assert [f.status for f in again.files] == ["unchanged"]
