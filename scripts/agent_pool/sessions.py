"""HTTP sessions for the outside services (GitHub, Resource Manager)."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def pooled_session() -> requests.Session:
    """A session keeping enough connections for the concurrent requests one worker serves (requests' default
    of 10 per host would make the rest open and drop connections)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
