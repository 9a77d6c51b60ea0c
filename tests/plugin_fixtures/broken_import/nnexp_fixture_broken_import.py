"""Fails to import: it needs a dependency that is not installed."""

import nnexp_fixture_missing_dependency  # noqa: F401

from nnexp import hookimpl


@hookimpl
def register_activations(register):
    register("never_seen", object)
