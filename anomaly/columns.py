"""Per-slot state held in numpy columns that grow together (the fleet's fast path).

A :class:`Columns` subclass declares its fields once (name -> initial value, trailing
shape, dtype); every field is an array whose first axis is the slot. ``grow()`` adds
slots with the initial values, and ``state_dict()`` / ``load_state_dict()`` round-trip
the arrays exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

Field = tuple[float | int | bool, tuple[int, ...], Any]


class Columns:
    """Named per-slot arrays; subclasses fill ``FIELDS``."""

    FIELDS: ClassVar[dict[str, Field]] = {}

    def __init__(self, capacity: int = 0) -> None:
        self.size = 0
        for name, (init, shape, dtype) in self.fields().items():
            setattr(self, name, np.full((capacity, *shape), init, dtype=dtype))

    def fields(self) -> dict[str, Field]:
        return self.FIELDS

    @property
    def capacity(self) -> int:
        first = next(iter(self.fields()))
        return int(getattr(self, first).shape[0])

    def add(self) -> int:
        """A new slot with the initial values; returns its index."""
        if self.size == self.capacity:
            self.grow(max(16, 2 * self.capacity))
        self.size += 1
        return self.size - 1

    def grow(self, capacity: int) -> None:
        for name, (init, shape, dtype) in self.fields().items():
            old = getattr(self, name)
            new = np.full((capacity, *shape), init, dtype=dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name)[: self.size] for name in self.fields()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        size = len(next(iter(state.values()))) if state else 0
        for name, (init, shape, dtype) in self.fields().items():
            column = np.full((max(16, size), *shape), init, dtype=dtype)
            column[:size] = np.asarray(state[name], dtype=dtype).reshape((size, *shape))
            setattr(self, name, column)
        self.size = size
