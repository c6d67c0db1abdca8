"""The local CKAN portal: install on first use, start, stop, report status (`ntm portal up|down|status`).

It lives here, beside the CKAN extensions it installs, and not in the pipeline's packages: the
pipeline only needs a CKAN's URL and token (`ntm_core.settings.ckan_credentials`).

Everything lives under one folder (`NTM_PORTAL_HOME`, default `<repo>/.portal`): CKAN's own
virtual environment, a PostgreSQL cluster and a Redis server bound to loopback, the CKAN
config, uploaded files, logs and the pipeline's API token. `up` is idempotent (it starts only
what is not running), `down` stops only the processes it started (their pid files are here).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ntm.watch import DROPZONE_URI
from ntm_core import settings
from ntm_core.log import log
from ntm_core.settings import REPO_ROOT

CKAN_VERSION = "2.12.0"
CKAN_PORT = settings.portal_port()
PG_PORT = settings.portal_pg_port()
REDIS_PORT = settings.portal_redis_port()
PG_BIN = settings.pg_bin()
SYSADMIN = "ntm_admin"
# ntm first: its templates (home, places, the reader's language) come before the others'.
PLUGINS = "ntm pgsearch datastore datatables_view dcat scheming_datasets"
EXTENSIONS = [REPO_ROOT / "portal" / "ckanext-pgsearch", REPO_ROOT / "portal" / "ckanext-ntm"]
# gunicorn serves CKAN; flask-compress compresses its pages and assets with brotli or gzip
# (ckanext-ntm's serving.py); xlsxwriter writes the indicator pages' downloads.
CKAN_PLUGIN_PACKAGES = [
    "ckanext-dcat==2.4.4",
    "ckanext-scheming==3.1.0",
    "gunicorn==23.0.0",
    "brotli==1.1.0",
    "flask-compress==1.25",
    "xlsxwriter==3.3.1",
]
# CKAN is served by gunicorn (a production WSGI server); NTM_PORTAL_SERVER=dev keeps the way before,
# CKAN's own development server (`ckan run`, Werkzeug) without ckanext-ntm's serving middleware,
# for debugging and for the benchmarks' baseline.
SERVER_DEV = "dev"
# gunicorn on a 2-core machine: as many worker processes as cores plus one, two threads each (a
# page's static files load in parallel; a slow submission check holds one thread, not the site).
GUNICORN_WORKERS = (os.cpu_count() or 2) + 1
GUNICORN_THREADS = 2
GUNICORN_TIMEOUT_S = 300  # a submitted file is checked while its request waits
DATASET_SCHEMA = REPO_ROOT / "portal" / "schemas" / "ntm_dataset.yaml"


# The /about page (CKAN's own text otherwise).
ABOUT = (
    "Cổng dữ liệu mở của Chương trình mục tiêu quốc gia xây dựng nông thôn mới: số liệu do các sở, "
    "ngành và địa phương gửi, được chuẩn hóa, kiểm định và công bố theo giấy phép CC BY 4.0. "
    "The open-data portal of the National Target Program on New Rural Development: figures sent by "
    "provincial departments and communes, standardised, checked and published under CC BY 4.0."
)


def _dcat_catalogue() -> dict[str, str]:
    """The catalogue's titles and publisher in both languages, for the DCAT profile: the publisher is
    the program's organization, as `publish/organizations.yaml` declares it."""
    import yaml

    program = yaml.safe_load((REPO_ROOT / "publish" / "organizations.yaml").read_text(encoding="utf-8"))["program"]
    return {
        "ntm.dcat.catalog_title": "Cổng dữ liệu mở Nông thôn mới",
        "ntm.dcat.catalog_title_en": "NTM open data portal (New Rural Development)",
        "ntm.dcat.catalog_description": "Dữ liệu mở Chương trình MTQG xây dựng nông thôn mới",
        "ntm.dcat.catalog_description_en": "Open data of the National Target Program on New Rural Development",
        "ntm.dcat.publisher": program["name"],
        "ntm.dcat.publisher_title": program["title"],
        "ntm.dcat.publisher_title_en": program["title_en"],
    }


class PortalError(RuntimeError):
    pass


@dataclass(frozen=True)
class Portal:
    home: Path

    @classmethod
    def default(cls) -> Portal:
        return cls(settings.portal_home())

    # layout
    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def ckan_bin(self) -> Path:
        return self.venv / "bin" / "ckan"

    @property
    def ini(self) -> Path:
        return self.home / "ckan.ini"

    @cached_property
    def pg_home(self) -> Path:
        """Where the PostgreSQL cluster, socket and log live: in the portal's home, unless the
        server's user cannot reach it (as root, PostgreSQL runs as `postgres`, and a checkout under
        a private folder such as `mktemp -d` is closed to it); then under /var/tmp, one folder per
        portal home."""
        user = _db_user()
        if not user or _reachable_by(user, self.home):
            return self.home
        outside = Path("/var/tmp/ntm-portal") / hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        outside.mkdir(parents=True, exist_ok=True)
        outside.parent.chmod(0o755)
        outside.chmod(0o755)
        return outside

    @property
    def pg_log(self) -> Path:
        return (self.logs if self.pg_home == self.home else self.pg_home) / "postgres.log"

    @property
    def pgdata(self) -> Path:
        return self.pg_home / "pgdata"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_home / "pgsocket"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def token_file(self) -> Path:
        return self.home / "api_token"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{CKAN_PORT}"

    def pidfile(self, name: str) -> Path:
        return self.home / f"{name}.pid"


# ---------------------------------------------------------------- helpers


def _run(
    cmd: list[str], *, input: str | None = None, env: dict | None = None, user: str | None = None, capture: bool = True
) -> str:
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    proc = subprocess.run(cmd, input=input, text=True, env=env, capture_output=capture)
    if proc.returncode != 0:
        raise PortalError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout or ""


def _reachable_by(user: str, path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    # `test -d` needs search permission on every folder above the path, as the server will.
    return subprocess.run(["runuser", "-u", user, "--", "test", "-d", str(path)], capture_output=True).returncode == 0


def _db_user() -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def _alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    # IndexError: a server writes its pidfile in two steps, so it can be read empty
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError, PermissionError):
        return None
    try:  # a server this process started and that has exited is a zombie until reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:  # not our child
        pass
    try:
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return None
    except OSError:
        return None
    return pid


def _http_ok(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except Exception:
        return False


def _wait(check, what: str, seconds: float, logfile: Path | None = None) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = logfile.read_text(errors="replace")[-3000:] if logfile and logfile.exists() else ""
    raise PortalError(f"{what} did not happen within {seconds:.0f}s.\n{tail}")


# ---------------------------------------------------------------- install


def _check_system_packages() -> None:
    """PostgreSQL and Redis come from Debian packages, installed by scripts/bootstrap.sh (`make install`)."""
    missing = []
    if not (PG_BIN / "postgres").exists():
        missing += ["postgresql-15", "postgresql-contrib"]
    if not shutil.which("redis-server"):
        missing += ["redis-server"]
    if missing:
        raise PortalError(
            f"Missing system packages: {' '.join(missing)}. Run `make install` "
            f"(scripts/bootstrap.sh installs them) and run again."
        )


def _pip_install(p: Portal, *args: str) -> None:
    """Install into the portal's own virtual environment, with uv when there is one, else pip.
    Compiled to bytecode once here (pip does by default): with PYTHONDONTWRITEBYTECODE set, as on
    CI machines, each `ckan` command and worker would otherwise compile CKAN again at every start."""
    if uv := shutil.which("uv"):
        _run([uv, "pip", "install", "-q", "--compile-bytecode", "-p", str(p.venv / "bin" / "python"), *args])
    else:
        _run([str(p.venv / "bin" / "pip"), "install", "-q", *args])


def _ensure_ckan_venv(p: Portal) -> None:
    if not p.ckan_bin.exists():
        log(f"portal: installing CKAN {CKAN_VERSION} into {p.venv} (first time only)")
        if uv := shutil.which("uv"):
            _run([uv, "venv", "-q", "-p", sys.executable, str(p.venv)])
        else:
            _run([sys.executable, "-m", "venv", str(p.venv)])
        _pip_install(p, f"ckan[requirements]=={CKAN_VERSION}")
    # Published extensions the portal uses (DCAT, scheming): installed once, pinned.
    # Distributions by their dist-info folder, in lower case: some keep their capital (Brotli-1.1.0).
    installed = {d.name.lower() for d in (p.venv / "lib").glob("python*/site-packages/*.dist-info")}
    missing = [
        pkg
        for pkg in CKAN_PLUGIN_PACKAGES
        if f"{pkg.replace('-', '_').replace('==', '-')}.dist-info".lower() not in installed
    ]
    if missing:
        log(f"portal: installing {' '.join(missing)}")
        _pip_install(p, *missing)
    # The project's own extensions are reinstalled each time: cheap, and never stale.
    for ext in EXTENSIONS:
        _pip_install(p, "--no-deps", "-e", str(ext))


# ---------------------------------------------------------------- postgres


def _psql(p: Portal, sql: str, db: str = "postgres") -> str:
    return _run(
        [
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(p.pg_socket_dir),
            "-p",
            str(PG_PORT),
            "-d",
            db,
            "-tA",
        ],
        input=sql,
        user=_db_user(),
    )


def _start_postgres(p: Portal) -> None:
    user = _db_user()
    for d in (p.pgdata, p.pg_socket_dir):
        d.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(d, user, user)
    if not (p.pgdata / "PG_VERSION").exists():
        log("portal: creating the PostgreSQL cluster")
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(p.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            user=user,
        )
    if _alive(p.pgdata / "postmaster.pid"):
        return
    logfile = p.pg_log
    if user:
        logfile.touch()
        shutil.chown(logfile, user, user)
    _run(
        [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(p.pgdata),
            "-l",
            str(logfile),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {p.pg_socket_dir}",
            "start",
        ],
        user=user,
    )
    (p.home / "postgres.started").write_text("by ntm portal up\n")


def _ensure_databases(p: Portal, secrets_: dict) -> None:
    roles = {"ckan_default": secrets_["ckan_db"], "datastore_default": secrets_["datastore_ro"]}
    for role, password in roles.items():
        _psql(
            p,
            f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} LOGIN PASSWORD '{password}';
            END IF; END $$;""",
        )
    existing = set(_psql(p, "SELECT datname FROM pg_database").split())
    for db in ("ckan_default", "datastore_default"):
        if db not in existing:
            _psql(p, f"CREATE DATABASE {db} OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0")


# ---------------------------------------------------------------- redis


def _start_redis(p: Portal) -> None:
    if _alive(p.pidfile("redis")):
        return
    _run(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(REDIS_PORT),
            "--daemonize",
            "yes",
            "--pidfile",
            str(p.pidfile("redis")),
            "--dir",
            str(p.home),
            "--save",
            "",
            "--logfile",
            str(p.logs / "redis.log"),
        ]
    )
    _wait(lambda: _alive(p.pidfile("redis")) is not None, "Redis", 20, p.logs / "redis.log")


# ---------------------------------------------------------------- ckan


def _load_secrets(p: Portal) -> dict:
    path = p.home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {k: secrets.token_hex(16) for k in ("ckan_db", "datastore_ro", "admin_password", "session")}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _ckan(p: Portal, *args: str, input: str | None = None) -> str:
    return _run([str(p.ckan_bin), "-c", str(p.ini), *args], input=input, env=_ckan_env(p))


def _ckan_env(p: Portal) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{p.venv / 'bin'}:{env.get('PATH', '')}"
    return env


def _write_config(p: Portal, s: dict) -> None:
    if not p.ini.exists():
        _run([str(p.ckan_bin), "generate", "config", str(p.ini)], env=_ckan_env(p))
    pg = f"127.0.0.1:{PG_PORT}"
    max_submission_mb = settings.submission_max_mb()
    options = {
        "sqlalchemy.url": f"postgresql://ckan_default:{s['ckan_db']}@{pg}/ckan_default",
        "ckan.datastore.write_url": f"postgresql://ckan_default:{s['ckan_db']}@{pg}/datastore_default",
        "ckan.datastore.read_url": f"postgresql://datastore_default:{s['datastore_ro']}@{pg}/datastore_default",
        "ckan.datastore.sqlsearch.enabled": "true",
        "ckan.site_url": p.url,
        "ckan.site_id": "ntm",
        "ckan.site_title": "Cổng dữ liệu mở Nông thôn mới (NTM open data)",
        "ckan.plugins": PLUGINS,
        "ckan.site_logo": "/ntm/logo.svg",
        "ckan.site_description": "Dữ liệu mở Chương trình MTQG xây dựng nông thôn mới / NTM open data",
        "ckan.site_about": ABOUT,
        # A submission's verdict comes from the pipeline's own check (ckanext-ntm's ntm_submit).
        "ntm.check_command": str(Path(sys.executable).parent / "ntm"),
        "ntm.max_submission_mb": str(max_submission_mb),
        # A submission tells Airflow at once (an asset event on the drop zone's asset); empty: the
        # poll fetches it. The credentials stay in the environment (NTM_AIRFLOW_USERNAME/_PASSWORD).
        "ntm.airflow_url": settings.airflow_url(),
        "ntm.airflow_asset": DROPZONE_URI,
        "ntm.submission_datasets": " ".join(
            sorted(c.stem for c in (REPO_ROOT / "ingest" / "contracts").glob("*.yaml"))
        ),
        # A DataStore table gets a searchable preview on its resource page.
        "ckan.views.default_views": "datatables_view ntm_map",
        # The declared metadata schema of every dataset (ckanext-scheming).
        "scheming.dataset_schemas": f"ckanext.scheming:{DATASET_SCHEMA}",
        # DCAT (ckanext-dcat): /catalog.ttl, /dataset/<name>.rdf|.ttl|.jsonld for harvesters, in
        # DCAT-AP 3.0.1: ckanext-dcat's profile, then the portal's own (ckanext-ntm's dcat.py).
        "ckanext.dcat.rdf.profiles": "euro_dcat_ap_3 ntm_dcat_ap_3",
        "ckanext.dcat.resource.inherit.license": "true",
        **_dcat_catalogue(),
        "ckan.redis.url": f"redis://127.0.0.1:{REDIS_PORT}/0",
        # Not used: the pgsearch plugin keeps the index in PostgreSQL.
        "solr_url": "http://127.0.0.1:8983/solr/unused",
        "ckan.storage_path": str(p.home / "storage"),
        "ckan.locale_default": "vi",
        "ckan.locales_offered": "vi en",
        "ckan.auth.create_unowned_dataset": "false",
        # A publish reads every organization (about 150 departments) in one page, not 25 at a time.
        "ckan.group_and_organization_list_all_fields_max": "1000",
        "beaker.session.secret": s["session"],
        "SECRET_KEY": s["session"],
        "WTF_CSRF_SECRET_KEY": s["session"],
        "api_token.jwt.encode.secret": f"string:{s['session']}",
        "api_token.jwt.decode.secret": f"string:{s['session']}",
        "ckan.max_resource_size": "500",
        # No request leaves the portal for a third party: a user without a picture gets CKAN's own
        # placeholder, not a gravatar.com image (which the Content-Security-Policy would block).
        "ckan.gravatar_default": "disabled",
        # The development server is the way before: no compression, caching or security headers.
        "ntm.serving.enabled": "false" if _server_kind() == SERVER_DEV else "true",
    }
    (p.home / "storage").mkdir(exist_ok=True)
    _run([str(p.ckan_bin), "config-tool", str(p.ini), *[f"{k}={v}" for k, v in options.items()]], env=_ckan_env(p))


def _initialise_ckan(p: Portal, s: dict) -> None:
    marker = p.home / "initialised"
    _ckan(p, "db", "init")  # also runs pending migrations: safe to repeat
    permissions = _ckan(p, "datastore", "set-permissions")
    _psql(p, permissions, db="datastore_default")
    if marker.exists() and p.token_file.exists():
        return
    users = _ckan(p, "user", "list")
    if SYSADMIN not in users:
        _ckan(p, "user", "add", SYSADMIN, f"email={SYSADMIN}@localhost", f"password={s['admin_password']}")
    _ckan(p, "sysadmin", "add", SYSADMIN)
    out = _ckan(p, "user", "token", "add", SYSADMIN, "ntm-pipeline")
    token = out.strip().splitlines()[-1].strip()
    p.token_file.write_text(token)
    p.token_file.chmod(0o600)
    marker.write_text("ok\n")


def _server_kind() -> str:
    return settings.portal_server()


def _server_command(p: Portal) -> list[str]:
    """gunicorn with CKAN's WSGI application (ckanext-ntm's `serving.wsgi_app`, CKAN's deployment
    wsgi.py), or with NTM_PORTAL_SERVER=dev CKAN's development server."""
    if _server_kind() == SERVER_DEV:
        return [str(p.ckan_bin), "-c", str(p.ini), "run", "-H", "127.0.0.1", "-p", str(CKAN_PORT), "-r", "-D", "-t"]
    return [
        str(p.venv / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{CKAN_PORT}",
        "--workers",
        str(GUNICORN_WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(GUNICORN_THREADS),
        "--timeout",
        str(GUNICORN_TIMEOUT_S),
        "--graceful-timeout",
        "10",
        "--max-requests",
        "2000",
        "--max-requests-jitter",
        "200",
        # A search typed as very long text (a pasted paragraph) is a long URL: gunicorn's default
        # 4094-byte request line answered 400 where CKAN answers results or none (0: no limit, as the
        # development server had; the body and header limits stay).
        "--limit-request-line",
        "0",
        "ckanext.ntm.serving:wsgi_app()",
    ]


def _start_ckan(p: Portal) -> None:
    if _alive(p.pidfile("ckan")) and _http_ok(p.url + "/api/3/action/status_show"):
        return
    if _http_ok(p.url + "/api/3/action/status_show"):
        raise PortalError(f"Something else already answers on {p.url}; stop it or set NTM_PORTAL_PORT.")
    logfile = p.logs / "ckan.log"
    with open(logfile, "ab") as out:
        # A session of its own: `down` stops the server and every worker by its process group.
        proc = subprocess.Popen(
            _server_command(p),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_ckan_env(p), "CKAN_INI": str(p.ini)},
            start_new_session=True,
        )
    p.pidfile("ckan").write_text(str(proc.pid))
    _wait(lambda: _http_ok(p.url + "/api/3/action/status_show"), "CKAN", 120, logfile)


# ---------------------------------------------------------------- commands


def up(p: Portal | None = None) -> Portal:
    p = p or Portal.default()
    p.home.mkdir(parents=True, exist_ok=True)
    p.logs.mkdir(exist_ok=True)
    if _alive(p.pidfile("ckan")) and _http_ok(p.url + "/api/3/action/status_show"):
        log(f"portal: already running at {p.url}")
        return p
    _check_system_packages()
    _ensure_ckan_venv(p)
    s = _load_secrets(p)
    _start_postgres(p)
    _ensure_databases(p, s)
    _start_redis(p)
    _write_config(p, s)
    _initialise_ckan(p, s)
    _start_ckan(p)
    log(f"portal: running at {p.url} (sysadmin {SYSADMIN}, password in {p.home / 'secrets.json'})")
    return p


def down(p: Portal | None = None) -> None:
    p = p or Portal.default()
    pid = _alive(p.pidfile("ckan"))
    if pid:
        os.killpg(pid, signal.SIGTERM)
        _wait(lambda: _alive(p.pidfile("ckan")) is None, "CKAN shutdown", 20)
    p.pidfile("ckan").unlink(missing_ok=True)
    pid = _alive(p.pidfile("redis"))
    if pid:
        os.kill(pid, signal.SIGTERM)
    if _alive(p.pgdata / "postmaster.pid") and (p.home / "postgres.started").exists():
        _run([str(PG_BIN / "pg_ctl"), "-D", str(p.pgdata), "-m", "fast", "-w", "stop"], user=_db_user())
    log("portal: stopped")


def status(p: Portal | None = None) -> dict:
    p = p or Portal.default()
    return {
        "url": p.url,
        "ckan": bool(_alive(p.pidfile("ckan"))) and _http_ok(p.url + "/api/3/action/status_show"),
        "postgres": bool(_alive(p.pgdata / "postmaster.pid")),
        "redis": bool(_alive(p.pidfile("redis"))),
        "home": str(p.home),
    }
