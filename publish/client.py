"""One CKAN client for the pipeline: ckanapi over a requests session that retries.

The token comes from the settings (NTM_CKAN_TOKEN, or the local portal's token file: see
`ntm_core.settings.ckan_credentials`), or from an Airflow connection in the DAGs; it is never logged.
"""

from __future__ import annotations

import ckanapi
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ntm_core.settings import ckan_credentials


class PortalUnavailable(RuntimeError):
    pass


def retrying_session(total: int = 5, backoff: float = 0.5) -> requests.Session:
    """Timeouts, refused connections and 5xx answers are retried with exponential backoff."""
    retry = Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connect(url: str | None = None, token: str | None = None) -> ckanapi.RemoteCKAN:
    if not (url and token):
        try:
            url, token = ckan_credentials()
        except LookupError as err:
            raise PortalUnavailable(str(err)) from None
    ckan = ckanapi.RemoteCKAN(url, apikey=token, user_agent="ntm-lakehouse/0.1", session=retrying_session())
    try:
        ckan.action.status_show()
    except (requests.exceptions.RequestException, ckanapi.CKANAPIError) as err:
        raise PortalUnavailable(
            f"CKAN at {url} does not answer ({type(err).__name__}). Nothing was published; "
            f"start it (`ntm portal up`) or check NTM_CKAN_URL, then run `ntm publish` again."
        ) from None
    return ckan
