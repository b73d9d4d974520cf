"""Bitstring Status List v1.0: the encoded list round-trips, bit 0 is the most significant bit of
the first byte, lists are at least 131,072 entries long, and decoding refuses malformed input and
zip bombs."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dases.identity.statuslist import (
    MAX_DECOMPRESSED_BYTES,
    MIN_LIST_LENGTH,
    StatusListError,
    decode,
    encode,
    is_set,
)


def multibase(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def set_bits(bits: bytes) -> set[int]:
    return {
        index * 8 + offset
        for index, byte in enumerate(bits)
        if byte
        for offset in range(8)
        if byte & (0x80 >> offset)
    }


def test_empty_list_round_trips_to_all_zero_bits() -> None:
    bits = decode(encode([]))
    assert len(bits) == MIN_LIST_LENGTH // 8 == 16384
    assert not any(bits)


def test_encoded_list_is_multibase_base64url_gzip() -> None:
    encoded = encode([3, 70000])
    assert encoded.startswith("u")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    body = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert len(raw) == 16384


def test_round_trip_keeps_exactly_the_set_indices() -> None:
    indices = {0, 1, 7, 8, 9, 4242, MIN_LIST_LENGTH - 1}
    bits = decode(encode(indices))
    assert set_bits(bits) == indices
    assert all(is_set(bits, index) for index in indices)
    assert not is_set(bits, 2)


def test_longer_list_round_trips() -> None:
    length = MIN_LIST_LENGTH * 2
    bits = decode(encode([length - 1], length=length))
    assert len(bits) == length // 8
    assert is_set(bits, length - 1)


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x80), (1, 0, 0x40), (7, 0, 0x01), (8, 1, 0x80), (9, 1, 0x40), (15, 1, 0x01), (16, 2, 0x80)],
)
def test_bit_i_is_the_i_mod_8_th_most_significant_bit_of_byte_i_div_8(index: int, byte: int, value: int) -> None:
    bits = decode(encode([index]))
    assert bits[byte] == value
    assert sum(1 for b in bits if b) == 1


def test_encoding_is_deterministic() -> None:
    assert encode([5, 6]) == encode([6, 5]) == encode([5, 6, 5])


@pytest.mark.parametrize("length", [MIN_LIST_LENGTH - 8, 8, 0, MIN_LIST_LENGTH + 1, MIN_LIST_LENGTH + 4])
def test_encode_refuses_short_or_unaligned_lengths(length: int) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        encode([], length=length)


@pytest.mark.parametrize("index", [-1, MIN_LIST_LENGTH, MIN_LIST_LENGTH + 100])
def test_encode_refuses_an_index_outside_the_list(index: int) -> None:
    with pytest.raises(ValueError, match=f"status index {index} is outside the list"):
        encode([index])


@pytest.mark.parametrize("index", [-1, MIN_LIST_LENGTH])
def test_is_set_refuses_an_index_outside_the_list(index: int) -> None:
    bits = decode(encode([]))
    with pytest.raises(StatusListError, match="outside the list"):
        is_set(bits, index)


@pytest.mark.parametrize("encoded", ["", "z" + encode([])[1:], encode([])[1:], "U" + encode([])[1:]])
def test_decode_refuses_a_missing_u_prefix(encoded: str) -> None:
    with pytest.raises(StatusListError, match="prefix 'u'"):
        decode(encoded)


def test_decode_refuses_a_non_string() -> None:
    with pytest.raises(StatusListError):
        decode(b"uH4sI")  # type: ignore[arg-type]


@pytest.mark.parametrize("encoded", ["uA", "uAAAAA"])
def test_decode_refuses_bad_base64(encoded: str) -> None:
    with pytest.raises(StatusListError, match="not valid base64url"):
        decode(encoded)


@pytest.mark.parametrize("encoded", ["u", "u!!!!", "u@@", "u" + "*" * 40])
def test_decode_refuses_characters_outside_base64url(encoded: str) -> None:
    """Characters outside the base64url alphabet are an error, not silently an empty list."""
    with pytest.raises(StatusListError):
        decode(encoded)


@pytest.mark.parametrize("raw", [b"not gzip at all", bytes(16384), b"\x1f\x8b\x08garbage"])
def test_decode_refuses_non_gzip_data(raw: bytes) -> None:
    with pytest.raises(StatusListError, match="not GZIP-compressed"):
        decode(multibase(raw))


def test_decode_refuses_a_truncated_gzip_stream() -> None:
    """A list cut short in transit is refused, not read as a shorter (or unchecked) list."""
    body = encode([5])[1:]
    compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    with pytest.raises(StatusListError):
        decode(multibase(compressed[:-8]))


def test_decode_refuses_a_gzip_bomb() -> None:
    bomb = gzip.compress(bytes(MAX_DECOMPRESSED_BYTES + 1024))
    assert len(bomb) < 100_000  # small on the wire
    with pytest.raises(StatusListError, match=f"more than {MAX_DECOMPRESSED_BYTES} bytes"):
        decode(multibase(bomb))


def test_decode_accepts_a_list_of_exactly_the_limit() -> None:
    assert len(decode(multibase(gzip.compress(bytes(MAX_DECOMPRESSED_BYTES))))) == MAX_DECOMPRESSED_BYTES


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_LIST_LENGTH - 1), max_size=64))
def test_any_set_of_indices_round_trips(indices: set[int]) -> None:
    bits = decode(encode(indices))
    assert len(bits) == MIN_LIST_LENGTH // 8
    assert set_bits(bits) == indices
