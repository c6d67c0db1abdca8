"""Lighthouse on every page type of the local portal, served by gunicorn (ckanext-ntm's serving:
compression, caching, security headers) beside CKAN's development server (Werkzeug, the way before),
both measured in this run; written to benchmarks/RESULTS_portal.md (never asserted in tests).

    uv run python benchmarks/bench_portal_lighthouse.py

Needs the portal's data published (`make demo`), npm's `lighthouse` 12.2.3 from
benchmarks/node/package-lock.json (installed here by `npm ci` when missing) and Debian's chromium
(CHROME_PATH). Lighthouse's default settings: a mobile page on a simulated slow 4G network and a
4× slower processor. The portal is restarted for each server and left running under gunicorn.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NODE = HERE / "node"
LIGHTHOUSE = NODE / "node_modules" / ".bin" / "lighthouse"
RESULTS = HERE / "RESULTS_portal.md"
A11Y_TEST = REPO / "tests" / "test_portal_a11y.py"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
SERVERS = {"dev": "CKAN's development server (Werkzeug), as before", "gunicorn": "gunicorn + ckanext-ntm serving"}
SIGNED_IN = {"submit (signed in)"}
# The targets of issues #28 and #29, printed beside the figures (not asserted).
TARGETS = (
    "performance ≥ 90, SEO ≥ 95, best practices ≥ 95, home page ≤ 500 KB transferred (issue #28); "
    "accessibility 100 on every page type (issue #29)"
)


def ensure_lighthouse() -> None:
    if not LIGHTHOUSE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE, check=True)


def portal(command: str, server: str) -> None:
    env = {**os.environ, "NTM_PORTAL_SERVER": server}
    subprocess.run(["uv", "run", "ntm", "portal", command], cwd=REPO, env=env, check=True, capture_output=True)


def portal_url() -> str:
    sys.path.insert(0, str(REPO))
    from ntm_core.settings import portal_port

    return f"http://127.0.0.1:{portal_port()}"


def api(base: str, action: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{base}/api/3/action/{action}?{query}", timeout=60) as response:
        return json.load(response)["result"]


def page_types(base: str) -> dict[str, str]:
    """Each page type's path: the accessibility test's list (tests/test_portal_a11y.py, PAGES, read
    from its source: one list) with its dataset taken from what the portal publishes; and two pages
    that list leaves out: a resource page (its DataTables preview, CKAN's datatablesview, logs a
    refused eval and a missing icon, which the test's console check would flag) and the submission
    page, measured signed in."""
    names = api(base, "package_list")
    assert names, "the portal publishes no dataset: run `make demo` first"
    # The samples' commune infrastructure dataset when it is there: a DataStore table with a preview.
    name = next((n for n in names if n.endswith("ha-tang-so-cap-xa")), names[0])
    dataset = api(base, "package_show", id=name)
    pages = {kind: path.format(dataset=dataset["name"]) for kind, path in a11y_pages().items()}
    resource = f"/dataset/{dataset['name']}/resource/{dataset['resources'][0]['id']}"
    return pages | {"resource": resource, "submit (signed in)": "/submit"}


def a11y_pages() -> dict[str, str]:
    """PAGES of tests/test_portal_a11y.py, a literal read without importing the test (and pytest)."""
    tree = ast.parse(A11Y_TEST.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PAGES"]:
            return ast.literal_eval(node.value)
    raise LookupError(f"no PAGES in {A11Y_TEST}")


def signed_in_headers() -> dict:
    """The submit page is for a department's editor: it is measured signed in, with the pipeline's
    API token (CKAN reads it on pages too), handed to Lighthouse in a private file, never printed."""
    sys.path.insert(0, str(REPO))
    from ntm_core.settings import portal_home

    return {"Authorization": (portal_home() / "api_token").read_text().strip()}


def lighthouse(url: str, headers: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ntm-lighthouse-") as tmp:
        report = Path(tmp) / "report.json"
        extra = []
        if headers:
            header_file = Path(tmp) / "headers.json"
            header_file.touch(mode=0o600)
            header_file.write_text(json.dumps(headers))
            extra = [f"--extra-headers={header_file}"]
        subprocess.run(
            [
                str(LIGHTHOUSE),
                url,
                "--output=json",
                f"--output-path={report}",
                f"--only-categories={','.join(CATEGORIES)}",
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
                "--quiet",
                *extra,
            ],
            env={**os.environ, "CHROME_PATH": shutil.which("chromium") or "/usr/bin/chromium"},
            check=True,
            timeout=300,
        )
        found = json.loads(report.read_text(encoding="utf-8"))
    scores = {c: round(100 * (found["categories"][c]["score"] or 0)) for c in CATEGORIES}
    audits = found["audits"]
    return {
        **scores,
        "kb": round(audits["total-byte-weight"]["numericValue"] / 1024),
        "lcp_s": round(audits["largest-contentful-paint"]["numericValue"] / 1000, 2),
        "cls": round(audits["cumulative-layout-shift"]["numericValue"], 3),
        "failed": sorted(
            a["id"]
            for a in audits.values()
            if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") in ("binary", "numeric")
        ),
    }


def measure(base: str, pages: dict[str, str]) -> dict[str, dict]:
    figures = {}
    for server in SERVERS:
        portal("down", server)
        portal("up", server)
        figures[server] = {
            kind: lighthouse(base + path, signed_in_headers() if kind in SIGNED_IN else None)
            for kind, path in pages.items()
        }
        print(server, json.dumps(figures[server], ensure_ascii=False), flush=True)
    return figures


def write_results(figures: dict[str, dict], pages: dict[str, str]) -> str:
    lines = [
        "# The portal in Lighthouse",
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/bench_portal_lighthouse.py` on {os.cpu_count()} cores "
        f"({platform.platform()}), Lighthouse 12.2.3 with Debian's chromium, default settings (mobile, simulated "
        "slow 4G, 4× CPU slowdown), the samples published (`make demo`). One run each: scores move by a few "
        "points between runs.",
        "",
        f"Targets: {TARGETS}.",
        "",
        "| page | path | server | performance | accessibility | best practices | SEO | KB transferred | LCP s | CLS |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, path in pages.items():
        for server in SERVERS:
            f = figures[server][kind]
            lines.append(
                f"| {kind} | `{path}` | {server} | {f['performance']} | {f['accessibility']} | "
                f"{f['best-practices']} | {f['seo']} | {f['kb']} | {f['lcp_s']} | {f['cls']} |"
            )
    lines += ["", "Servers: " + "; ".join(f"`{k}`: {v}" for k, v in SERVERS.items()) + ".", ""]
    lines += ["Audits scoring under 0.9 with gunicorn, by page:", ""]
    lines += [f"- {kind}: {', '.join(figures['gunicorn'][kind]['failed']) or 'none'}" for kind in pages]
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text, encoding="utf-8")
    return text


def main() -> None:
    ensure_lighthouse()
    base = portal_url()
    portal("up", "gunicorn")
    pages = page_types(base)
    try:
        figures = measure(base, pages)
    finally:
        portal("down", "gunicorn")
        portal("up", "gunicorn")
    print(write_results(figures, pages))


if __name__ == "__main__":
    main()
