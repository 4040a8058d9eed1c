"""Masking secrets wherever settings are shown: ``config show``, the start-up log, error messages.

One rule for URLs: a password in the user-info part (``http://user:secret@prom:9090``) is replaced by
``***``; the user name, host, port and path stay, so a message still says where it went. Header
values are masked when the header carries credentials (Authorization, Cookie, or a name with
token, key, secret or password in it); ``X-Scope-OrgID`` and the like stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"
# scheme://user:password@host... ; the password ends at the last "@" before the host.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:?#]*):(?P<password>[^/?#]*)@")
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key", re.I)


def mask_url(url: str) -> str:
    """``url`` with the password of its user-info part (if any) replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def mask_text(text: str) -> str:
    """Every URL password inside free text (an error message, a log line) masked."""
    return mask_url(text)


def is_secret_header(name: str) -> bool:
    return bool(_SECRET_HEADER.search(name))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values with the credential-bearing ones masked."""
    return {name: MASK if is_secret_header(name) else value for name, value in headers.items()}
