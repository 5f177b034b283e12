"""The behaviour the grid records share: a cell's key, ``ok``, and a dict round trip (JSON, SQLite rows).

Used by: :class:`greenaudio.measure.BenchmarkRecord` (the cost grid) and
:class:`greenaudio.orchestration.store.ZooCellRecord` (the zoo grid). Importing it loads nothing heavy.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

__all__ = ["KeyedRecord"]


class KeyedRecord:
    """What the grid records share (mixed into frozen dataclasses): the cell's key, ``ok``, a dict round trip.

    Subclasses set ``_key_fields``; ``from_dict`` ignores unknown keys and turns JSON lists back into tuples for
    fields annotated as tuples.
    """

    _key_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def key(self) -> tuple:
        """The cell's identity (values of the class's key fields)."""
        return tuple(getattr(self, k) for k in self._key_fields)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        kwargs = {k: v for k, v in values.items() if k in names}
        for f in fields:
            if str(f.type).startswith("tuple") and isinstance(kwargs.get(f.name), list):
                kwargs[f.name] = tuple(kwargs[f.name])
        return cls(**kwargs)
