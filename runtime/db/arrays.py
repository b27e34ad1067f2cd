"""Set-wise INSERTs on PostgreSQL from one array per column (``unnest``): one SQL text
whatever the number of rows (so one prepared statement, not one per batch size), one
parameter per column instead of one per value, and rows for several tables in a single
statement (data-modifying CTEs: a child row's foreign key sees its parent inserted by the
same statement)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

_POSTGRESQL = postgresql.dialect()


@dataclass(frozen=True)
class ArrayInsert:
    """``INSERT INTO table (columns) SELECT … FROM unnest(…)``, its parameters named
    ``{prefix}_{column}``."""

    table: Table
    columns: tuple[str, ...]
    prefix: str

    @functools.cached_property
    def sql(self) -> str:
        """The statement (without a conflict clause); each array is cast to its column's
        type (JSON travels as text: the column type's own encoding, then a cast)."""
        arrays, values = [], []
        for name in self.columns:
            column = self.table.c[name]
            sql_type = column.type.compile(_POSTGRESQL)
            as_text = isinstance(column.type, JSON)
            arrays.append(f"CAST(:{self.prefix}_{name} AS {'TEXT' if as_text else sql_type}[])")
            values.append(f"CAST(r.{name} AS {sql_type})" if as_text else f"r.{name}")
        return (
            f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) "
            f"SELECT {', '.join(values)} "
            f"FROM unnest({', '.join(arrays)}) AS r ({', '.join(self.columns)})"
        )

    def parameters(self, rows: Sequence[dict[str, Any]], dialect: Dialect) -> dict[str, list[Any]]:
        """``rows`` (dicts with every one of ``columns``) as one array per column, each value
        bound as the column's type binds it (e.g. JSON encoded, ``None`` as its type says)."""
        arrays = {}
        for name in self.columns:
            process = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            values = [row[name] for row in rows]
            arrays[f"{self.prefix}_{name}"] = (
                values if process is None else list(map(process, values))
            )
        return arrays
