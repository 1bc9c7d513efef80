"""The base of every settings section.

Each package declares the section(s) it reads in its own ``settings.py`` (``ingest``:
``mqtt``, ``store``, ``ingest``; ``anomaly``: ``detect``; ``tickets``: ``cases``,
``notify``; ``api``: ``api``) and its constructors take those sections, never the
application's root settings. The application (``kizuki.config``) composes the sections
into one root read from ``KIZUKI_*`` variables and ``kizuki.toml``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: a plain pydantic model, validated when the root is read."""

    model_config = ConfigDict(extra="ignore")
