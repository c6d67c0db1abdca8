"""Per-file reports for departments: JSON for machines, HTML for people, Vietnamese first."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ingest.problems import Issue
from ingest.safety import shown_name, stored_name

STATUS_TEXT = {
    "landed": ("Tệp đã được nhận; xem các lưu ý dưới đây", "File accepted; see the notes below"),
    "rejected": ("Tệp bị từ chối: không có dòng nào được nhận", "File rejected: no row was accepted"),
    "partly_landed": (
        "Tệp được nhận một phần: các dòng dưới đây bị giữ lại",
        "File partly accepted: the rows below were held back",
    ),
}


# A report lists at most this many problems (a person reads the first ones, fixes the pattern and
# sends the file again); the rest are counted, by column. Both ingest paths stop at the same number.
MAX_LISTED_PROBLEMS = 1000


def summary_by_column(issues: list[Issue], per_column: Counter | None = None) -> list[dict[str, Any]]:
    """How many problems each column has (`per_column`, or counted from `issues` when they are all
    there), each with the first listed problem of that column as its example."""
    counts = per_column if per_column else Counter(i.column for i in issues)
    first = {}
    for issue in issues:
        first.setdefault(issue.column, issue)
    return [
        {
            "column": column,
            "problems": count,
            "example": {k: getattr(first[column], k) for k in ("vi", "en", "fix_vi", "fix_en")}
            if column in first
            else None,
        }
        for column, count in sorted(counts.items(), key=lambda c: (-c[1], str(c[0])))
    ]


def write_report(
    *,
    report_dir: Path,
    file_name: str,
    department: str,
    dataset: str,
    sha: str,
    status: str,
    issues: list[Issue],
    accepted_rows: int,
    accepted_headers: dict[str, list[str]] | None = None,
    per_column: Counter | None = None,
    notes: list[Issue] | None = None,
    columns: dict[str, list[str]] | None = None,
) -> Path:
    """Write `<file>.report.json` and `<file>.report.html` under the file's stored name
    (`safety.stored_name`), showing its name escaped (`safety.shown_name`); return the HTML path.
    `issues` are in row order; past MAX_LISTED_PROBLEMS they are counted, not listed (`per_column`
    gives the counts when not every issue is at hand)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = summary_by_column(issues, per_column)
    total = sum(entry["problems"] for entry in summary)
    listed = issues[:MAX_LISTED_PROBLEMS]
    payload: dict[str, Any] = {
        "file": shown_name(file_name),
        "department": department,
        "dataset": dataset,
        "sha256": sha,
        "status": status,
        "summary": {"vi": STATUS_TEXT[status][0], "en": STATUS_TEXT[status][1]},
        "rows_accepted": accepted_rows,
        "problems": [asdict(i) for i in listed],
        "problems_total": total,
        "problems_not_listed": total - len(listed),
        "problems_by_column": summary,
        "accepted_headers": accepted_headers or {},
        # What the department should know although no row was held back for it (columns not
        # recognised, sheets not read, rows without figures).
        "notes": [asdict(n) for n in notes or []],
        "columns": columns or {"read": [], "not_recognised": []},
    }
    stored = stored_name(file_name)
    _write_whole(report_dir / f"{stored}.report.json", json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    html_path = report_dir / f"{stored}.report.html"
    _write_whole(html_path, _html(payload))
    return html_path


def _write_whole(path: Path, text: str) -> None:
    """A reader (a department, the portal) sees the whole report or the previous one, never half."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:4px 8px;vertical-align:top}"
)
SUMMARY_HEAD = (
    "<h2>Tổng hợp theo cột / Summary by column</h2><table><tr><th>Cột<br><i>Column</i></th>"
    "<th>Số lỗi<br><i>Problems</i></th><th>Ví dụ<br><i>Example</i></th></tr>"
)


TABLE_HEAD = (
    "<table><tr><th>Dòng<br><i>Row</i></th><th>Cột<br><i>Column</i></th><th>Giá trị<br><i>Value</i></th>"
    "<th>Lý do<br><i>Reason</i></th><th>Cách sửa<br><i>How to fix</i></th></tr>"
)


def _lines_html(lines: list[dict[str, Any]]) -> str:
    """Report lines as table rows; a row of a workbook with several sheets is shown 'Sheet!12'."""
    e = lambda v: html.escape("" if v is None else str(v))  # noqa: E731
    return "\n".join(
        f"<tr><td>{e(i['sheet'] + '!' if i.get('sheet') else '')}{e(i['row'])}</td><td>{e(i['column'])}</td>"
        f"<td>{e(i['value'])}</td><td>{e(i['vi'])}<br><i>{e(i['en'])}</i></td>"
        f"<td>{e(i['fix_vi'])}<br><i>{e(i['fix_en'])}</i></td></tr>"
        for i in lines
    )


def _html(p: dict[str, Any]) -> str:
    e = lambda v: html.escape("" if v is None else str(v))  # noqa: E731
    rows = _lines_html(p["problems"])
    notes = _lines_html(p["notes"])
    read, unread = p["columns"]["read"], p["columns"]["not_recognised"]
    headers = "".join(f"<li><b>{e(k)}</b>: {e(', '.join(v))}</li>" for k, v in p["accepted_headers"].items())
    by_column = "".join(
        f"<tr><td>{e(c['column'] or '—')}</td><td>{c['problems']}</td>"
        f"<td>{e(c['example']['vi']) + '<br><i>' + e(c['example']['en']) + '</i>' if c['example'] else ''}"
        "</td></tr>"
        for c in p["problems_by_column"]
    )
    more = (
        f"<p>Còn {p['problems_not_listed']} lỗi khác không liệt kê; xem bảng tổng hợp theo cột dưới đây.<br>"
        f"<i>{p['problems_not_listed']} more problems are not listed; see the summary by column below.</i></p>"
        if p["problems_not_listed"]
        else ""
    )
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo tiếp nhận tệp / File report: {e(p["file"])}</title>
<style>{STYLE}</style>
</head><body>
<h1>{e(p["summary"]["vi"])}<br><small><i>{e(p["summary"]["en"])}</i></small></h1>
<p>Tệp / File: <b>{e(p["file"])}</b> · Đơn vị gửi / Department: {e(p["department"])} ·
Bộ dữ liệu / Dataset: {e(p["dataset"])}<br>
Số dòng được nhận / Rows accepted: {p["rows_accepted"]} · SHA-256: <code>{e(p["sha256"])}</code></p>
{TABLE_HEAD}
{rows}</table>
{more}
<p>Cột đã đọc / Columns read: {len(read)} ({e(", ".join(read))})<br>
Cột không nhận ra / Columns not recognised: {len(unread)}{" (" + e("; ".join(unread)) + ")" if unread else ""}</p>
{"<h2>Lưu ý / Notes</h2>" + TABLE_HEAD + notes + "</table>" if notes else ""}
{SUMMARY_HEAD + by_column + "</table>" if by_column else ""}
{"<h2>Tên cột được chấp nhận / Accepted headers</h2><ul>" + headers + "</ul>" if headers else ""}
<p>Sửa tệp rồi gửi lại vào cùng thư mục; tệp mới thay thế các dòng cùng khóa (đơn vị, kỳ …) của tệp cũ.<br>
<i>Fix the file and drop it again in the same folder; the new file replaces the old file's rows with the same keys
(unit, period …).</i></p>
</body></html>
"""
