"""The portal served like a production CKAN: the WSGI entry gunicorn loads (`wsgi_app`), and what a
front server (nginx) would otherwise add to every response: brotli or gzip compression, long caching of static
files, security headers with a Content-Security-Policy the portal's pages satisfy, and no server
version. Registered by the plugin as an IMiddleware (`add_serving`), so `ckan run` gets it too."""

from __future__ import annotations

import os

from flask import Flask, Response, g, request
from flask_compress import Compress, DictCache

# Scripts only from this portal: no inline script, no eval (data for a script sits in
# <script type="application/json">). Styles may be inline (CKAN's and the templates' style
# attributes); images may be data: URIs (Leaflet, CKAN's icons).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
# The one exception: CKAN's DataTables preview (the page a resource view's iframe loads) defines its
# column list in an inline <script> and binds a button with onclick; its page alone may run inline
# script. It shows the DataStore's rows, escaped by CKAN (`tojson`), and nothing typed by a visitor.
PREVIEW_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
PREVIEW_ENDPOINT = "resource.view"  # `<dataset type>_resource.view` for each dataset type
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # SAMEORIGIN, not DENY: a resource page shows its preview (datatables) in an iframe of the portal.
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# /webassets/ names carry a hash of their content: cached for a year, never revalidated. The other
# static files (Leaflet, the map's script, the boundaries, the logo) keep their names across
# releases: a week, then revalidated by ETag.
CACHE_VERSIONED = "public, max-age=31536000, immutable"
CACHE_STATIC = "public, max-age=604800"
COMPRESSIBLE = {
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/javascript",
    "text/turtle",
    "application/javascript",
    "application/json",
    "application/geo+json",
    "application/ld+json",
    "application/rdf+xml",
    "application/xml",
    "image/svg+xml",
}
MIN_COMPRESS_BYTES = 500
# Larger files (published CSVs served from storage) go out as they are, streamed, not read into memory.
MAX_COMPRESS_BYTES = 8 * 1024 * 1024
SERVER_NAME = "ckan"

# flask-compress does the compressing: brotli (about a fifth smaller than gzip on CKAN's scripts and
# styles) when the client accepts it, else gzip; `Vary: Accept-Encoding`; the ETag of the compressed
# body is the file's own with the coding appended, and a request that sends it back gets a 304.
# Registered on no app: `add_serving` hands it each response last (see there).
COMPRESS_SETTINGS = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_MIMETYPES": sorted(COMPRESSIBLE),
    "COMPRESS_MIN_SIZE": MIN_COMPRESS_BYTES,
    "COMPRESS_LEVEL": 6,  # gzip
    "COMPRESS_STREAMS": False,  # a generator (a DataStore dump) streams as it is
    "COMPRESS_REGISTER": False,
}
# A page at a brotli quality fast enough for every request; a static file at the best quality, once
# per worker and version of the file (its ETag).
BROTLI_PAGE_QUALITY = 5
BROTLI_STATIC_QUALITY = 11


def _compressor(**settings) -> Compress:
    """A flask-compress with its own settings: a bare Flask app carries them (flask-compress reads
    its settings from its app's config); the responses it compresses are CKAN's."""
    holder = Flask(__name__)
    holder.config.update(COMPRESS_SETTINGS, **settings)
    return Compress(holder)


def _static_key(request) -> str:
    return f"{request.path};{g.ntm_static_etag}"


_PAGES = _compressor(COMPRESS_BR_LEVEL=BROTLI_PAGE_QUALITY)
_STATIC = _compressor(
    COMPRESS_BR_LEVEL=BROTLI_STATIC_QUALITY, COMPRESS_CACHE_BACKEND=DictCache, COMPRESS_CACHE_KEY=_static_key
)


def _is_static() -> bool:
    return request.endpoint in ("static", "webassets.index")


def _compressible(response: Response) -> bool:
    """What flask-compress does not check itself: a partial or not-modified answer, a generator,
    a file too large to read into memory (and the type, before a file is read for nothing)."""
    if response.status_code in (204, 206, 304) or response.mimetype not in COMPRESSIBLE:
        return False
    if response.is_streamed and not response.direct_passthrough:
        return False  # a generator (a DataStore dump): let it stream
    length = response.content_length
    return length is None or length <= MAX_COMPRESS_BYTES


def compress(response: Response) -> Response:
    """Brotli or gzip the body as the client accepts (flask-compress), a static file once."""
    if not _compressible(response):
        return response
    if response.direct_passthrough:  # a file from send_file: read, so that it can be compressed
        response.direct_passthrough = False
        response.set_data(response.get_data())
    etag, _ = response.get_etag()
    if _is_static() and etag:
        g.ntm_static_etag = etag
        response = _STATIC.after_request(response)
    else:
        response = _PAGES.after_request(response)
    if "Content-Encoding" in response.headers:
        response.headers.pop("Accept-Ranges", None)  # byte ranges of the file, not of its compressed body
    return response


def cache_static(response: Response) -> Response:
    if response.status_code in (200, 304) and _is_static():
        versioned = request.endpoint == "webassets.index"
        response.headers["Cache-Control"] = CACHE_VERSIONED if versioned else CACHE_STATIC
    return response


def secure(response: Response) -> Response:
    if (request.endpoint or "").endswith(PREVIEW_ENDPOINT):
        response.headers.setdefault("Content-Security-Policy", PREVIEW_POLICY)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_NAME  # the WSGI server's name and version stay private
    return response


def add_serving(app: Flask) -> Flask:
    """Headers and compression on every response of the CKAN Flask app (CKAN's IMiddleware)."""

    def _serve(response: Response) -> Response:
        return compress(cache_static(secure(response)))

    # Flask runs after-request functions last registered first: at the head of the list this one
    # runs after CKAN's own (which sets its Cache-Control), on the final response.
    app.after_request_funcs.setdefault(None, []).insert(0, _serve)
    return app


def wsgi_app():
    """CKAN's application from the ini in `CKAN_INI`, as CKAN's deployment `wsgi.py` builds it
    (`gunicorn 'ckanext.ntm.serving:wsgi_app()'`)."""
    from logging.config import fileConfig

    from ckan.cli import CKANConfigLoader
    from ckan.config.middleware import make_app

    ini = os.environ["CKAN_INI"]
    fileConfig(ini, disable_existing_loggers=False)
    return make_app(CKANConfigLoader(ini).get_config())


def error_detail(code: int, content) -> str:
    """The reason an error page gives, unless it is the web server's English default for the code
    (the page's own bilingual text stands in for it)."""
    from werkzeug.exceptions import default_exceptions

    shown = str(content or "").strip()
    default = getattr(default_exceptions.get(code), "description", None)
    return "" if not shown or shown == default or shown == "Internal server error" else shown
