"""Mixin for streaming detectors: hyper-parameters, clone and a plain-dict state.

A subclass lists its hyper-parameters as constructor arguments stored under their own
names, and its learned state through ``_state`` / ``_load``. The state dict is plain
JSON-able data so a checkpoint can be written with ``json``.
"""

from __future__ import annotations

import inspect
from typing import Any, Self


class Stateful:
    """Shared ``params`` / ``clone`` / ``state_dict`` / ``load_state_dict``."""

    __slots__ = ()

    def params(self) -> dict[str, Any]:
        """The constructor arguments, by name."""
        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n != "self"}

    def clone(self) -> Self:
        """A fresh, untrained copy with the same hyper-parameters."""
        return type(self)(**self.params())

    def state_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "params": self.params(), "state": self._state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("type") != type(self).__name__:
            raise ValueError(f"state of {state.get('type')!r} cannot load into {type(self)!r}")
        self._load(state["state"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector (hyper-parameters and learned state) from ``state_dict()``."""
        det = cls(**state["params"])
        det.load_state_dict(state)
        return det

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self, state: dict[str, Any]) -> None:
        raise NotImplementedError
