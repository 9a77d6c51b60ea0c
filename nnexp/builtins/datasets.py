"""Built-in datasets (numpy only; filled in by the datasets work)."""

from __future__ import annotations
