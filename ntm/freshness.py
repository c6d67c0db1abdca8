"""`ntm freshness`: how fresh each department's data is, and the reminders the coordination office
sends. The rule is the dbt mart fact_dataset_freshness (HDX's thresholds, seeds expected_updates
and freshness_thresholds); this module builds it for a day (today, or a frozen `as_of`) and writes
one reminder list per department, as CSV and as an HTML page in both languages."""

from __future__ import annotations

import csv
import datetime as dt
import html
from pathlib import Path

MART = "fact_dataset_freshness"
LATE = ("due", "overdue", "delinquent")  # the statuses of seed freshness_statuses that get a reminder


def freshness(data_dir: Path, as_of: dt.date | None = None) -> list[dict]:
    """Build the freshness mart for `as_of` (today by default) and return its rows."""
    import duckdb

    from ntm.transform import transform

    frozen = {"as_of": as_of.isoformat()} if as_of else None
    result = transform(data_dir, select=f"+{MART}", docs=False, dbt_vars=frozen)
    if not result.success:
        raise RuntimeError("freshness: dbt build failed: " + "; ".join(result.failures))
    with duckdb.connect() as con:
        frame = con.execute(f"select * from read_parquet('{data_dir / 'marts' / f'{MART}.parquet'}')").df()
    return frame.to_dict(orient="records")


def write_reminders(rows: list[dict], folder: Path) -> list[Path]:
    """One CSV and one HTML page per department with a dataset due, overdue or delinquent; the lists
    of an earlier day are replaced (a department that has caught up gets none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.csv"), *folder.glob("*.html")]:
        old.unlink()
    written = []
    for department in sorted({r["department"] for r in rows if r["status"] in LATE}):
        late = [r for r in rows if r["department"] == department and r["status"] in LATE]
        csv_path = folder / f"{department}.csv"
        with open(csv_path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["department", "dataset", "frequency", "status", "age_days", "last_received", "as_of"])
            for r in late:
                writer.writerow(
                    [
                        r["department"],
                        r["dataset"],
                        r["frequency"],
                        r["status"],
                        _blank(r["age_days"]),
                        _blank(r["last_received"]),
                        r["as_of"],
                    ]
                )
        page = folder / f"{department}.html"
        page.write_text(_page(department, late), encoding="utf-8")
        written += [csv_path, page]
    return written


def _blank(value) -> str:
    return "" if value is None or str(value) in ("NaT", "nan", "<NA>") else str(value)


def _page(department: str, late: list[dict]) -> str:
    items = "\n".join(
        f"<tr><td>{html.escape(r['dataset'])}</td>"
        f"<td>{html.escape(r['status_vi'])} / {html.escape(r['status_en'])}</td>"
        f"<td>{_blank(r['age_days']) or 'chưa từng gửi / never sent'}</td>"
        f"<td>{_blank(r['last_received'])[:10]}</td></tr>"
        for r in late
    )
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Nhắc cập nhật dữ liệu / Data update reminder</title></head>
<body>
<h1>{html.escape(department)}: nhắc cập nhật dữ liệu / data update reminder</h1>
<p>Các bộ dữ liệu sau đã đến hạn hoặc quá hạn cập nhật. Vui lòng gửi tệp mới vào thư mục của đơn vị.</p>
<p>The datasets below are due or overdue. Please send a new file to your department's folder.</p>
<table border="1" cellpadding="4">
<tr><th>Bộ dữ liệu / Dataset</th><th>Trạng thái / Status</th><th>Số ngày / Days</th>
<th>Lần gửi cuối / Last sent</th></tr>
{items}
</table>
</body></html>
"""


def render(rows: list[dict]) -> str:
    lines = [f"{'status':<11} {'age':>5}  department/dataset (frequency)"]
    for r in rows:
        lines.append(
            f"{r['status']:<11} {_blank(r['age_days']) or '-':>5}  {r['department']}/{r['dataset']} ({r['frequency']})"
        )
    return "\n".join(lines)
