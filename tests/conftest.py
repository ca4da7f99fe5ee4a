"""Suite-wide options: ``--update-goldens`` rewrites the golden files of the model
regression suite (tests/golden/models) instead of comparing against them."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden outputs (review the diff before committing)")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))
