"""`ntm check FILE --dataset D --department DEP`: ingest's verdict and report, with nothing landed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import drop

from ingest.run import ingest_dropzone

HEADER = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
BAD = HEADER + "03664;Xã Chiềng Xôm;2023;46,32\n03658;Xã Chiềng Cọ;2023;146,5\n99999;Xã Không Có;2023;1\n"
GOOD = HEADER + "03664;Xã Chiềng Xôm;2023;46,32\n"


def _check(path, data_dir, *extra):
    env = {**os.environ, "NTM_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ntm.cli",
            "check",
            str(path),
            "--dataset",
            "digital_infrastructure",
            "--department",
            "so-khcn-son-la",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
    )


def test_check_prints_the_report_ingest_writes_and_lands_nothing(tmp_path, dropzone):
    data_dir = tmp_path / "untouched"
    data_dir.mkdir()
    bad = tmp_path / "bieu.csv"
    bad.write_text(BAD, encoding="utf-8")
    checked = _check(bad, data_dir, "--json")
    assert checked.returncode == 1 and list(data_dir.iterdir()) == []
    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", name="bieu.csv", content=BAD.encode())
    [outcome] = ingest_dropzone(dropzone, tmp_path / "data", "r1").files
    written = dropzone / "so-khcn-son-la" / "_reports" / "digital_infrastructure" / "bieu.csv.report.json"
    assert outcome.status == "partly_landed"
    verdict, report = json.loads(checked.stdout), json.loads(written.read_text(encoding="utf-8"))
    assert {k: v for k, v in verdict.items() if k in report} == report  # the report's object, and the fate
    assert (verdict["verdict"], verdict["rows_landed"], verdict["rows_held_back"]) == ("partly_landed", 1, 2)
    text = _check(bad, data_dir)
    assert text.returncode == 1 and text.stdout.startswith("partly_landed: so-khcn-son-la/digital_infrastructure/")
    assert "[row 3, column fixed_broadband_household_pct] '146,5'" in text.stdout and "row 4" in text.stdout
    assert list(data_dir.iterdir()) == []


def test_check_exits_0_only_for_a_file_that_would_land_whole(tmp_path):
    good = tmp_path / "tot.csv"
    good.write_text(GOOD, encoding="utf-8")
    checked = _check(good, tmp_path)
    assert checked.returncode == 0 and checked.stdout.startswith("landed:") and "1 rows would land" in checked.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tot.csv"]
