"""Reading inputs into the canonical tables (:mod:`uqlens.schema`).

:func:`load` reads JSONL (nested or flat), CSV and Parquet files; importers for peer tools'
formats live next to it and end in :func:`uqlens.schema.normalise` too.
"""

from uqlens.io.loaders import load, load_many

__all__ = ["load", "load_many"]
