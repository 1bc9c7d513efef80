"""Contacts that name only a recipient (``sms://+819012345678``) and the provider account
they go out through (``notify.providers``: scheme -> Apprise URL template with
``{target}``), so no contact point carries an account's credentials.

>>> expand("sms://+819012345678", {"sms": "twilio://SID:TOKEN@+15550001111/{target}"})
'twilio://SID:TOKEN@+15550001111/+819012345678'
>>> expand("slack://T/B/C", {"sms": "twilio://x/{target}"})
'slack://T/B/C'
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote


def expand(url: str, providers: Mapping[str, str]) -> str:
    """``url`` through its scheme's provider template, or ``url`` itself if none."""
    scheme, sep, rest = url.partition("://")
    template = providers.get(scheme.lower()) if sep else None
    if template is None:
        return url
    return template.replace("{target}", quote(rest.strip("/"), safe="+@.-_"))
