"""Secrets kept out of what edgekd prints and records: the passwords in database URLs.

A study's ``storage`` URL may carry a password as ``user:pass@`` or as a query parameter
(``?password=``, as libpq and SQLAlchemy accept); every message, record and file shows the
URL through :func:`redacted`, and a driver's own error text (which may quote the URL)
through :func:`scrubbed`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Query parameters that carry a secret in database URLs (libpq's password and sslpassword, drivers' tokens).
_SECRET_PARAMETERS = re.compile(
    r"(?i)(^|[?&;])((?:ssl)?password|passw?d|pwd|pass|secret|token|access_token|api_?key)=([^&;#]*)"
)


def _parts(url: str) -> tuple[str, str, str]:
    """``url`` as (scheme with ``://``, credentials with their ``@``, the host and the rest), cut as a database URL is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    credentials, at, host = rest[:cut].rpartition("@")
    return scheme + sep, credentials + at, host + rest[cut:]


def redacted(url: str) -> str:
    """The URL without its secrets (``user:pass@`` and ``?password=``-like parameters), as outputs may show it."""
    scheme, credentials, rest = _parts(url)
    if ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***@"
    path, question, query = rest.partition("?")
    if question:
        rest = path + "?" + _SECRET_PARAMETERS.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", query)
    return scheme + credentials + rest


def scrubbed(text: str, url: str) -> str:
    """``text`` (a driver's error message, which may quote the URL) with the URL's secrets replaced by ***."""
    shown = redacted(url)
    text = text.replace(url, shown)
    _, credentials, rest = _parts(url)
    secrets = {credentials[:-1].split(":", 1)[1]} if ":" in credentials else set()
    secrets |= {match.group(3) for match in _SECRET_PARAMETERS.finditer(rest.partition("?")[2])}
    # Short secrets are left alone elsewhere in the text: replacing every "ab" would garble it.
    secrets |= {unquote(secret) for secret in secrets}
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
