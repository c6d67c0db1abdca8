"""A department that publishes its file over HTTP: fetched from a server on loopback, then ingested."""

import functools
import http.server
import threading

import duckdb
import pytest

from ntm import pipeline

CSV = (
    "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
    "03664;Xã Chiềng Xôm;2023;46,32\n03658;Xã Chiềng Cọ;2023;39,8\n"
).encode()


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
        f"    - dataset: digital_infrastructure\n      url: {http_server}/missing.csv\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("NTM_DEPARTMENTS", str(registry))
    result = pipeline.ingest(dropzone, data_dir, "r1")
    assert [(f.department, f.status, f.rows_landed) for f in result.files] == [("so-khcn-son-la", "landed", 2)]
    landed = dict(
        duckdb.sql(
            f"select unit_code, fixed_broadband_household_pct from read_parquet("
            f"'{data_dir}/bronze/digital_infrastructure/*.parquet')"
        ).fetchall()
    )
    assert landed == {"03664": 46.32, "03658": 39.8}
    assert (dropzone / "so-khcn-son-la" / "digital_infrastructure" / "ha-tang-so-2023.csv").read_bytes() == CSV
    # Fetching again changes nothing.
    again = pipeline.ingest(dropzone, data_dir, "r2")
    assert [f.status for f in again.files] == ["unchanged"]


@pytest.fixture
def s3_server(monkeypatch):
    """An S3-compatible server on loopback (moto), with test credentials in the environment."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_s3_source_is_fetched_from_a_bucket(s3_server, tmp_path, monkeypatch, dropzone, data_dir):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket="so-khcn-son-la")
    s3.put_object(Bucket="so-khcn-son-la", Key="ha-tang-so/2023.csv", Body=CSV)
    registry = tmp_path / "departments.yaml"
    registry.write_text(
        "so-khcn-son-la:\n  province: Sơn La\n  sources:\n"
        "    - dataset: digital_infrastructure\n      url: s3://so-khcn-son-la/ha-tang-so/2023.csv\n"
        f"      options: {{endpoint_url: '{s3_server}'}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("NTM_DEPARTMENTS", str(registry))
    result = pipeline.ingest(dropzone, data_dir, "r1")
    assert [(f.department, f.file_name, f.status, f.rows_landed) for f in result.files] == [
        ("so-khcn-son-la", "2023.csv", "landed", 2)
    ]
    assert (dropzone / "so-khcn-son-la" / "digital_infrastructure" / "2023.csv").read_bytes() == CSV
    # A corrected object in the bucket replaces the copy and supersedes the first reading.
    s3.put_object(Bucket="so-khcn-son-la", Key="ha-tang-so/2023.csv", Body=CSV.replace(b"46,32", b"47,01"))
    again = pipeline.ingest(dropzone, data_dir, "r2")
    assert [f.status for f in again.files] == ["landed"]
    ledger = dict(duckdb.sql(f"select run_id, status from '{data_dir}/ledger.parquet'").fetchall())
    assert ledger == {"r1": "superseded", "r2": "landed"}
