"""The portal served like a production CKAN (issue #28): read from the served portal's own
responses — the home page and static assets come compressed when the client accepts gzip, carry the
security headers and a Content-Security-Policy without inline or eval'd script, name no server
version, and static assets are cacheable; every page has a description in its language."""

from __future__ import annotations

import gzip
import re
import urllib.error
import urllib.request
from html import unescape

import pytest

pytestmark = pytest.mark.portal
LEAFLET = "/ntm/map/leaflet/leaflet.js"
A_WEEK_S = 7 * 24 * 3600
PRIVATE_REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
VIETNAMESE_LETTERS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def fetch(url: str, gzip_ok: bool = True, headers: dict | None = None):
    """(status, headers, body as sent, body decoded): an error status is read like any other."""
    accept = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    request = urllib.request.Request(url, headers={**accept, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, head, raw = err.code, err.headers, err.read()
    body = gzip.decompress(raw) if head.get("Content-Encoding") == "gzip" else raw
    return status, head, raw, body


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def max_age(cache_control: str) -> int:
    found = re.search(r"max-age=(\d+)", cache_control or "")
    return int(found.group(1)) if found else 0


def meta_description(html: str) -> str:
    found = re.search(r'<meta name="description" content="([^"]*)"', html)
    return unescape(found.group(1)).strip() if found else ""


@pytest.fixture(scope="module")
def home(portal):
    return fetch(portal.url + "/")


def webasset_script(html: str) -> str:
    scripts = re.findall(r'<script src="(/webassets/[^"]+\.js)"', html)
    assert scripts, "the home page loads no /webassets/ script"
    return scripts[-1]


def assert_secure(head) -> None:
    policy = directives(head.get("Content-Security-Policy", ""))
    assert policy.get("script-src") == ["'self'"], head.get("Content-Security-Policy")
    assert "'unsafe-eval'" not in head.get("Content-Security-Policy", "")
    assert policy.get("object-src") == ["'none'"] and policy.get("default-src") == ["'self'"]
    assert head.get("X-Content-Type-Options") == "nosniff"
    assert head.get("X-Frame-Options") in ("DENY", "SAMEORIGIN") and policy.get("frame-ancestors")
    assert head.get("Referrer-Policy") in PRIVATE_REFERRER_POLICIES
    server = head.get("Server", "")
    assert not re.search(r"\d", server) and "werkzeug" not in server.lower() and "python" not in server.lower(), server


def test_home_is_compressed_only_for_a_client_that_accepts_gzip(portal, home):
    status, head, raw, body = home
    assert status == 200 and head.get("Content-Encoding") == "gzip"
    assert b"</html>" in body and len(raw) < len(body) / 2, (len(raw), len(body))
    assert "accept-encoding" in head.get("Vary", "").lower()
    status, head, raw, body = fetch(portal.url + "/", gzip_ok=False)
    assert status == 200 and "Content-Encoding" not in head and b"</html>" in raw


def test_pages_and_assets_carry_the_security_headers_and_no_server_version(portal, home):
    _, head, _, body = home
    html = body.decode("utf-8")
    assert_secure(head)
    assert not re.search(r'<meta name="generator"', html) and not re.search(r"ckan \d", html, re.I)
    for path in (webasset_script(html), LEAFLET, "/no-such-page"):
        status, head, _, _ = fetch(portal.url + path)
        assert status in (200, 404)
        assert_secure(head)
    # The pages run no inline script: every <script> loads a file of the portal or holds JSON data.
    inline = [s for s in re.findall(r"<script([^>]*)>", html) if "src=" not in s and "application/json" not in s]
    assert not inline, inline


def test_static_assets_are_compressed_and_cached_long(portal, home):
    script = webasset_script(home[3].decode("utf-8"))
    for path in (script, LEAFLET):
        status, head, raw, body = fetch(portal.url + path)
        assert status == 200 and head.get("Content-Encoding") == "gzip", path
        assert len(raw) < len(body) and body.lstrip()[:2] != b"\x1f\x8b"
        cache = head.get("Cache-Control", "")
        assert "public" in cache and max_age(cache) >= A_WEEK_S and "no-cache" not in cache, (path, cache)
    assert "immutable" in fetch(portal.url + script)[1].get("Cache-Control", "")  # its name carries its hash
    # A browser that accepts brotli gets it, smaller than the gzip.
    _, head, brotli_body, _ = fetch(portal.url + script, gzip_ok=False, headers={"Accept-Encoding": "br, gzip"})
    assert head.get("Content-Encoding") == "br" and len(brotli_body) < len(fetch(portal.url + script)[2])
    # A cached copy is revalidated by its tag without sending the file again.
    etag = fetch(portal.url + LEAFLET)[1].get("ETag")
    assert etag
    status, _, raw, _ = fetch(portal.url + LEAFLET, headers={"If-None-Match": etag})
    assert status == 304 and raw == b""


def test_the_home_page_has_a_description_in_each_language(portal, home):
    vietnamese = meta_description(home[3].decode("utf-8"))
    english = meta_description(fetch(portal.url + "/en/")[3].decode("utf-8"))
    assert len(vietnamese) >= 50 and len(english) >= 50 and vietnamese != english
    assert VIETNAMESE_LETTERS & set(vietnamese.lower()), vietnamese
    assert not VIETNAMESE_LETTERS & set(english.lower()), english
