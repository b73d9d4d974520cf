"""Bitstring Status List v1.0: the compressed bitstring that says which credentials are revoked.

Bit `i` is the (i mod 8)-th most significant bit of byte i // 8. The list is GZIP-compressed and
multibase-encoded (base64url, prefix `u`). Lists hold at least 131,072 entries (16 KiB) so that
one holder's index says little about them (herd privacy).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections.abc import Iterable

MIN_LIST_LENGTH = 131_072
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class StatusListError(ValueError):
    """The encoded list is not a valid Bitstring Status List."""


def encode(set_indices: Iterable[int], length: int = MIN_LIST_LENGTH) -> str:
    if length % 8 or length < MIN_LIST_LENGTH:
        raise ValueError(f"a status list holds a multiple of 8 entries, at least {MIN_LIST_LENGTH}")
    bits = bytearray(length // 8)
    for index in set_indices:
        if not 0 <= index < length:
            raise ValueError(f"status index {index} is outside the list (0..{length - 1})")
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def decode(encoded: str) -> bytes:
    """The raw bitstring of a multibase base64url GZIP list, bounded against zip bombs."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("encodedList must be a multibase base64url string (prefix 'u')")
    body = encoded[1:]
    if not _BASE64URL.match(body):
        raise StatusListError("encodedList has characters outside the base64url alphabet")
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as error:
        raise StatusListError("encodedList is not valid base64url") from error
    try:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        bits = decompressor.decompress(compressed, MAX_DECOMPRESSED_BYTES)
    except zlib.error as error:
        raise StatusListError("encodedList is not GZIP-compressed") from error
    if decompressor.unconsumed_tail:
        raise StatusListError(f"encodedList decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
    if not decompressor.eof or decompressor.unused_data:
        raise StatusListError("encodedList is a truncated GZIP stream or has data after it")
    return bits


def is_set(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"status index {index} is outside the list of {len(bits) * 8} entries")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))
