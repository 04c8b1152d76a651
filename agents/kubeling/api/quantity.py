"""Resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `1e3`) as the API writes them, parsed exactly.

Grammar (upstream `resource.Quantity`): an optionally signed decimal number followed by a binary suffix
(Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent (`e3`, `E-2`). Values are
parsed into `Decimal`s with no rounding; `milli_value` and `value` round up to whole units as upstream's
`MilliValue()` and `Value()` do, so a request of `0.1m` cpu still counts as 1 millicore.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exponent>[eE][+-]?\d+)|(?P<decimal>[numkMGTPE]?))$"
)

# Enough digits for any quantity the API accepts (upstream caps values near 2^63 and scales at 10^-9).
_CONTEXT = decimal.Context(prec=60)


def parse_quantity(text: Any) -> decimal.Decimal:
    """The exact value of a quantity; raises ValueError for anything upstream would reject."""
    if isinstance(text, bool):
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    if isinstance(text, int):
        return decimal.Decimal(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(f"quantities must be finite: {text!r}")
        return decimal.Decimal(repr(text))
    if not isinstance(text, str):
        raise ValueError(f"quantities must be strings or numbers, not {type(text).__name__}")
    match = _QUANTITY.match(text.strip()) if text.strip() == text else None
    if match is None:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    number = decimal.Decimal(match["number"])
    if match["binary"]:
        return _CONTEXT.multiply(number, decimal.Decimal(_BINARY[match["binary"]]))
    if match["exponent"]:
        return number.scaleb(int(match["exponent"][1:]), _CONTEXT)
    return number.scaleb(_DECIMAL[match["decimal"] or ""], _CONTEXT)


def milli_value(text: Any) -> int:
    """Thousandths of a unit, rounded up: `100m` → 100, `1.5` → 1500 (cpu in millicores)."""
    return _ceil(parse_quantity(text) * 1000)


def value(text: Any) -> int:
    """Whole units, rounded up: `128Mi` → 134217728, `1G` → 1000000000, `1e3` → 1000 (memory in bytes)."""
    return _ceil(parse_quantity(text))


def _ceil(number: decimal.Decimal) -> int:
    return int(number.to_integral_value(rounding=decimal.ROUND_CEILING))


def resource_value(name: str, text: Any) -> int:
    """How the scheduler and kubelet count a resource: cpu in millicores, everything else in whole units."""
    return milli_value(text) if name == "cpu" else value(text)
