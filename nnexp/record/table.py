"""A table appended in parts: one Parquet file per flush, merged as parts accumulate.

A writer that stays alive for days must neither hold its rows in memory nor leave a file
that is unreadable until it is closed (a Parquet file gets its footer only at close). So
each flush writes its rows as one small, complete Parquet file, atomically; readers (pandas)
can read the folder at any time; and every ``FANOUT`` parts of one size class are merged
into one part of the next class (streamed, one row group at a time), so a run of any length
keeps a few dozen files and each row is rewritten only a logarithmic number of times.

Part names carry their level and key range: ``L{level}-{first:012d}-{last:012d}.parquet``.
A crash between writing a merged part and deleting its inputs leaves parts whose range lies
inside another's; readers skip those.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnexp.record.files import atomic_path

FANOUT = 16
_NAME = re.compile(r"L(\d+)-(\d+)-(\d+)\.parquet$")


class PartTable:
    """Rows keyed by an increasing integer column ``key`` (``step``, ``epoch``)."""

    def __init__(self, folder, key: str):
        self.folder, self.key = Path(folder), key

    # -- writing -------------------------------------------------------------------------
    def append(self, table) -> None:
        """Write a pyarrow Table (keys increasing, all above the rows written before)."""
        if table.num_rows == 0:
            return
        import pyarrow.parquet as pq

        keys = table.column(self.key)
        first, last = int(keys[0].as_py()), int(keys[-1].as_py())
        with atomic_path(self.folder / f"L0-{first:012d}-{last:012d}.parquet") as tmp:
            pq.write_table(table, tmp)
        self._compact()

    def _compact(self) -> None:
        level = 0
        while True:
            same = [p for p in self.parts() if _level(p) == level]
            if len(same) < FANOUT:
                return
            self._merge(same[:FANOUT], level + 1)
            level += 1

    def _merge(self, parts: list[Path], level: int) -> None:
        first, last = _range(parts[0])[0], _range(parts[-1])[1]
        self._stream(parts, self.folder / f"L{level}-{first:012d}-{last:012d}.parquet")
        for part in parts:
            part.unlink(missing_ok=True)

    def truncate(self, last_key: int) -> None:
        """Drop every row whose key is above ``last_key`` (a resumed run rewrites them)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        for part in self.parts():
            first, last = _range(part)
            if first > last_key:
                part.unlink()
            elif last > last_key:
                table = pq.read_table(part)
                kept = table.filter(pc.less_equal(table.column(self.key), last_key))
                with atomic_path(part.with_name(f"L{_level(part)}-{first:012d}-{last_key:012d}.parquet")) as tmp:
                    pq.write_table(kept, tmp)
                part.unlink()

    # -- reading -------------------------------------------------------------------------
    def parts(self) -> list[Path]:
        """The live parts in key order (parts inside another part's range left out)."""
        if not self.folder.is_dir():
            return []
        found = sorted((p for p in self.folder.iterdir() if _NAME.match(p.name)),
                       key=lambda p: (_range(p)[0], -_range(p)[1]))
        live, reach = [], -1
        for part in found:
            if _range(part)[1] > reach:
                live.append(part)
                reach = _range(part)[1]
        return live

    def last_key(self) -> int:
        """The highest key written, 0 when empty."""
        parts = self.parts()
        return _range(parts[-1])[1] if parts else 0

    def read(self, columns=None):
        """All rows as a pandas DataFrame indexed by ``key`` (empty when nothing is written)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self.parts()
        if not parts:
            return pd.DataFrame(index=pd.Index([], name=self.key))
        tables = [pq.read_table(p, columns=None if columns is None else [self.key, *columns])
                  for p in parts]
        frame = pa.concat_tables(tables, promote_options="default").to_pandas()
        return frame.set_index(self.key)

    def export(self, path: Path) -> int:
        """Stream every row into one Parquet file at ``path``; returns the row count."""
        return self._stream(self.parts(), Path(path))

    def _stream(self, parts: list[Path], path: Path) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.unify_schemas([pq.read_schema(p) for p in parts]) if parts else None
        rows = 0
        with atomic_path(path) as tmp:
            if schema is None:
                pq.write_table(pa.table({self.key: pa.array([], pa.int64())}), tmp)
                return 0
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    source = pq.ParquetFile(part)
                    for group in range(source.num_row_groups):
                        table = _conform(source.read_row_group(group), schema)
                        writer.write_table(table)
                        rows += table.num_rows
        return rows


def _conform(table, schema):
    """``table`` with ``schema``'s columns in order (missing ones null)."""
    import pyarrow as pa

    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _level(part: Path) -> int:
    m = _NAME.match(part.name)
    assert m is not None  # parts() lists only names of this pattern
    return int(m.group(1))


def _range(part: Path) -> tuple[int, int]:
    m = _NAME.match(part.name)
    assert m is not None  # parts() lists only names of this pattern
    return int(m.group(2)), int(m.group(3))


def remove_tree_files(folder: Path) -> None:
    """Delete the part files of a folder (used when a record is reset)."""
    if folder.is_dir():
        for part in folder.iterdir():
            if _NAME.match(part.name):
                os.unlink(part)
