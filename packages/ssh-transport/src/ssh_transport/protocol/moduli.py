"""Group-exchange primes: parsing OpenSSH's ``/etc/ssh/moduli`` and picking one.

Each useful line reads ``time type tests tries size generator modulus`` where
``size`` is the prime's bit length minus one and the modulus is hex. Lines
that are not tested safe primes, or that disagree with themselves, are skipped.

Only text comes in here: reading the file is the driver's business
(``ssh_transport.core_setup.load_moduli``), as the core does no I/O.
"""

from __future__ import annotations

import secrets

# "type" 2 is a safe prime; bit 0 of "tests" marks a composite.
_TYPE_SAFE = 2
_TEST_COMPOSITE = 0x01

Moduli = dict[int, list[tuple[int, int]]]


def _parse_line(line: str) -> tuple[int, int, int] | None:
    """(bits, generator, prime) from one moduli line, or None if it is not usable."""
    fields = line.split()
    if len(fields) != 7 or line.lstrip().startswith("#"):
        return None
    try:
        kind, tests, tries, size, generator = (int(x) for x in fields[1:6])
        prime = int(fields[6], 16)
    except ValueError:
        return None
    if kind != _TYPE_SAFE or tests & _TEST_COMPOSITE or not tests & ~_TEST_COMPOSITE or tries <= 0:
        return None
    bits = size + 1
    if generator < 2 or prime.bit_length() != bits or prime % 2 == 0 or generator >= prime - 1:
        return None
    return bits, generator, prime


def parse_moduli(text: str) -> Moduli:
    """Map bit length -> [(generator, prime)] from moduli-file text; bad lines are skipped."""
    out: Moduli = {}
    for line in text.splitlines():
        parsed = _parse_line(line)
        if parsed is not None:
            bits, generator, prime = parsed
            out.setdefault(bits, []).append((generator, prime))
    return out


def best_size(sizes: list[int], minimum: int, preferred: int, maximum: int) -> int | None:
    """The size OpenSSH would pick: the smallest one at least ``preferred``,
    else the largest one below it; only sizes within [minimum, maximum] count."""
    fitting = [b for b in sizes if minimum <= b <= maximum]
    if not fitting:
        return None
    larger = [b for b in fitting if b >= preferred]
    return min(larger) if larger else max(fitting)


def choose_group(moduli: Moduli, minimum: int, preferred: int, maximum: int) -> tuple[int, int] | None:
    """A random (generator, prime) of the best size for the request, or None."""
    size = best_size([b for b, groups in moduli.items() if groups], minimum, preferred, maximum)
    if size is None:
        return None
    return secrets.choice(moduli[size])
