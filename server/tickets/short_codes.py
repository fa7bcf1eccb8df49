"""Short gate codes: what an attendant can type when a QR will not scan.

`ABCDE-FGHJK-M`: ten Crockford base32 characters (50 bits) and one check character. The
ten are an HMAC of the ticket's signed code under the signing key, so they need no new
secret, no network and no random source, and nobody without the key can derive one from a
ticket id. The check character is a weighted sum over GF(32) (weights 1, a, a^2, ... for a
primitive a): any one wrong character changes it, and so does any two swapped characters,
because every weight differs from every other. It catches typing slips before a request is
made; it is no defence against guessing (anyone can compute it), the 50 bits and the rate
limits are (docs/OPERATIONS.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Crockford's alphabet: no I, L, O, U; typed I and L read as 1, O as 0.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
DATA_LENGTH = 10
SHORT_LENGTH = DATA_LENGTH + 1
# Bumped if the derivation ever changes, like the long code's own domain.
_DOMAIN = b"payment-status short gate code v1\n"
# x^5 + x^2 + 1: primitive, so a = x has order 31 and the weights a^0..a^10 are distinct.
_POLYNOMIAL = 0b100101

# Spaces, line breaks, and the dashes phone keyboards and mail apps turn "-" into.
_SEPARATORS = re.compile("[\\s\\-_\u00b7\u2010\u2011\u2012\u2013\u2014]+")


def _gf_multiply(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLYNOMIAL
    return product


def _weights(count: int) -> list[int]:
    weights, weight = [], 1
    for _ in range(count):
        weights.append(weight)
        weight = _gf_multiply(weight, 2)
    return weights


# The check character is weighted too (a^10), so that swapping it with a data character is
# caught as well: the weighted sum of all eleven is zero. a^31 = 1, so 1 / a^10 = a^21.
_WEIGHTS = _weights(DATA_LENGTH)
_CHECK_INVERSE = _weights(32 - DATA_LENGTH)[-1]


# Each data position's product with every symbol value, and the check character of every
# sum, made once: the check is then ten look-ups. Multiplying in GF(32) bit by bit, per
# character, took half of a short code's 20 µs (docs/BENCHMARKS.md, "Issue 22's last cut").
_PRODUCTS = tuple(tuple(_gf_multiply(value, weight) for value in range(32)) for weight in _WEIGHTS)
_CHECK_OF_SUM = tuple(ALPHABET[_gf_multiply(total, _CHECK_INVERSE)] for total in range(32))
# Where each data character's five bits sit in the HMAC's leading 50.
_SHIFTS = tuple(5 * (DATA_LENGTH - 1 - i) for i in range(DATA_LENGTH))


def check_symbol(data: str) -> str:
    """The check character of ten data characters (already in ALPHABET)."""
    total = 0
    for symbol, products in zip(data, _PRODUCTS, strict=True):
        total ^= products[_VALUE[symbol]]
    return _CHECK_OF_SUM[total]


def derive_short_code(key: bytes, long_code: str, attempt: int = 0) -> str:
    """The short code of a signed code, compact (no dashes). `attempt` > 0 picks another
    one for the rare ticket whose first choice is already another ticket's."""
    message = _DOMAIN + long_code.encode("utf-8") + (b"\n%d" % attempt if attempt else b"")
    number = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big")
    number >>= 64 - 5 * DATA_LENGTH
    data = "".join([ALPHABET[(number >> shift) & 31] for shift in _SHIFTS])
    return data + check_symbol(data)


def grouped(short_code: str) -> str:
    """`ABCDEFGHJKM` as printed: `ABCDE-FGHJK-M`."""
    return f"{short_code[:5]}-{short_code[5:10]}-{short_code[10:]}"


def read_short_code(typed: str) -> str | None:
    """The compact short code in what was typed (any case, spaces, dashes, line breaks),
    or None when it is not one or its check character does not match."""
    compact = _SEPARATORS.sub("", typed).upper().translate(_READ_AS)
    if len(compact) != SHORT_LENGTH or any(symbol not in _VALUE for symbol in compact):
        return None
    if check_symbol(compact[:DATA_LENGTH]) != compact[DATA_LENGTH]:
        return None
    return compact
