"""The runnable Examples in the anomaly docstrings are part of the test suite."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import anomaly

MODULES = sorted(m.name for m in pkgutil.iter_modules(anomaly.__path__, "anomaly."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
