import decimal

import pytest

from kubeling.api.quantity import milli_value, parse_quantity, resource_value, value


@pytest.mark.parametrize(("text", "millis"), [
    ("100m", 100), ("1.5", 1500), ("2", 2000), ("0.1", 100), ("1e3", 1_000_000), ("0.5m", 1), (".5", 500),
    ("+1", 1000), (3, 3000), (0.25, 250), ("1E-3", 1), ("0", 0),
])
def test_cpu_in_millicores(text, millis):
    assert milli_value(text) == millis


@pytest.mark.parametrize(("text", "units"), [
    ("128Mi", 128 * 2**20), ("1G", 10**9), ("1e3", 1000), ("1Ki", 1024), ("1.5Gi", 3 * 2**29), ("500k", 500_000),
    ("1E", 10**18), ("1Ei", 2**60), ("2T", 2 * 10**12), ("1Pi", 2**50), ("100", 100), ("1500m", 2), ("1n", 1),
    ("110", 110),
])
def test_memory_and_counts_in_whole_units(text, units):
    assert value(text) == units


def test_values_are_exact():
    assert parse_quantity("0.1") == decimal.Decimal("0.1")
    assert parse_quantity("1.5Gi") == 1610612736
    assert parse_quantity("-2m") == decimal.Decimal("-0.002")


def test_resource_value_uses_millicores_only_for_cpu():
    assert resource_value("cpu", "250m") == 250
    assert resource_value("memory", "64Mi") == 64 * 2**20
    assert resource_value("nvidia.com/gpu", "2") == 2


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "1Mb", "Mi", "1 Mi", " 1", "1e", "--1", "1KiB", True, None, [1]])
def test_rejects_what_upstream_rejects(bad):
    with pytest.raises(ValueError):
        parse_quantity(bad)
