"""Root conftest: shared fixture plugins for every test suite."""

pytest_plugins = [
    "tests.e2e.operator_fixtures",
    "tests.e2e.helm_fixtures",
    "tests.e2e.kapacitord_fixtures",
]
