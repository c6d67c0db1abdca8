"""Per-file reports for departments: JSON for machines, HTML for people, Vietnamese first."""
from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ingest.table import Issue

STATUS_TEXT = {
    "rejected": ("Tệp bị từ chối: không có dòng nào được nhận", "File rejected: no row was accepted"),
    "partly_landed": ("Tệp được nhận một phần: các dòng dưới đây bị giữ lại", "File partly accepted: the rows below were held back"),
}


def write_report(*, report_dir: Path, file_name: str, department: str, dataset: str, sha: str, status: str,
                 issues: list[Issue], accepted_rows: int, accepted_headers: dict[str, list[str]] | None = None) -> Path:
    """Write `<file>.report.json` and `<file>.report.html`; return the HTML path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "file": file_name,
        "department": department,
        "dataset": dataset,
        "sha256": sha,
        "status": status,
        "summary": {"vi": STATUS_TEXT[status][0], "en": STATUS_TEXT[status][1]},
        "rows_accepted": accepted_rows,
        "problems": [asdict(i) for i in issues],
        "accepted_headers": accepted_headers or {},
    }
    _write_whole(report_dir / f"{file_name}.report.json", json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    html_path = report_dir / f"{file_name}.report.html"
    _write_whole(html_path, _html(payload))
    return html_path


def _write_whole(path: Path, text: str) -> None:
    """A reader (a department, the portal) sees the whole report or the previous one, never half."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def _html(p: dict[str, Any]) -> str:
    e = lambda v: html.escape("" if v is None else str(v))  # noqa: E731
    rows = "\n".join(
        f"<tr><td>{e(i['row'])}</td><td>{e(i['column'])}</td><td>{e(i['value'])}</td>"
        f"<td>{e(i['vi'])}<br><i>{e(i['en'])}</i></td><td>{e(i['fix_vi'])}<br><i>{e(i['fix_en'])}</i></td></tr>"
        for i in p["problems"])
    headers = "".join(f"<li><b>{e(k)}</b>: {e(', '.join(v))}</li>" for k, v in p["accepted_headers"].items())
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo tiếp nhận tệp / File report: {e(p['file'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px;vertical-align:top}}</style>
</head><body>
<h1>{e(p['summary']['vi'])}<br><small><i>{e(p['summary']['en'])}</i></small></h1>
<p>Tệp / File: <b>{e(p['file'])}</b> · Đơn vị gửi / Department: {e(p['department'])} · Bộ dữ liệu / Dataset: {e(p['dataset'])}<br>
Số dòng được nhận / Rows accepted: {p['rows_accepted']} · SHA-256: <code>{e(p['sha256'])}</code></p>
<table><tr><th>Dòng<br><i>Row</i></th><th>Cột<br><i>Column</i></th><th>Giá trị<br><i>Value</i></th>
<th>Lý do<br><i>Reason</i></th><th>Cách sửa<br><i>How to fix</i></th></tr>
{rows}</table>
{'<h2>Tên cột được chấp nhận / Accepted headers</h2><ul>' + headers + '</ul>' if headers else ''}
<p>Sửa tệp rồi gửi lại vào cùng thư mục; tệp mới sẽ thay thế tệp cũ cho cùng kỳ.<br>
<i>Fix the file and drop it again in the same folder; the new file replaces the old one for the same period.</i></p>
</body></html>
"""
