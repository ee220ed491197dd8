"""The slow suite: long fault trials, skipped unless `--run-slow` is given.

    pytest tests/slow --run-slow -p no:cacheprovider
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow", default=False):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
