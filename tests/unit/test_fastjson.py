"""The JSON of the local state store and the cursors (`peoplesync.fastjson`): every value comes back exactly,
whether orjson is installed or not. orjson reads an integer past 64 bits as a float, silently: an LDAP range
position (a 128-bit entryUUID) or a big number from a SQL column came back rounded (an LDAP read handed over
page by page then listed accounts twice: tests/integration/ldap/test_ldap_paged_poll.py)."""

from __future__ import annotations

import pytest

from peoplesync import fastjson
from peoplesync.connectors.cursor import decode_cursor, encode_cursor

BIG = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**127 + 12345, -(2**127) - 7,
       170141183460469231731687303715884118073]


@pytest.mark.parametrize("n", BIG)
def test_given_an_integer_of_any_size_then_it_comes_back_exactly(n: int) -> None:
    back = fastjson.loads(fastjson.dumps({"lo": n, "nested": [n, {"x": n}]}))
    assert back == {"lo": n, "nested": [n, {"x": n}]}
    assert type(back["lo"]) is int


def test_given_strings_floats_and_keys_then_they_come_back_as_the_standard_library_reads_them() -> None:
    value = {"digits": "12345678901234567890123", "float": 0.1, "e": 1e300, "name": "Zoë O'Brien", "t": [1, None],
             7: "an int key"}
    assert fastjson.loads(fastjson.dumps(value)) == {**{k: v for k, v in value.items() if k != 7}, "7": "an int key"}


def test_given_an_ldap_range_position_then_the_cursor_round_trips_its_128_bit_bound() -> None:
    position = {"mark": "20261129160000Z", "lo": 2**127 + 99, "hi": 2**128 - 1, "step": 2**120}
    text = encode_cursor(position, version=1, scope="s", compress=True)
    assert decode_cursor(text, version=1, scope="s") == position


@pytest.mark.parametrize("text", [
    '{"n": 18446744073709551616}',  # written by the standard library with its spaces: past 64 bits
    '{"n":18446744073709551616}',  # the same without spaces (the form orjson would write, were it an integer)
    '[-9223372036854775809, 1.8446744073709552e+19]',  # a big negative integer beside a float
    '{"f":1.8446744073709552e19,"n":1}',  # a float in the integer's range, as orjson writes it
    '{"f":0.1,"g":1e16,"h":-0.0,"i":5e-324,"j":[2.5,{"k":1.7976931348623157e308}]}',  # floats only
    '{"s":"1.5e19 in a string","t":"18446744073709551616"}',  # numbers in strings are strings
    '{"a" : [1 , 2.0] }',  # spaces anywhere
])
def test_given_any_text_then_it_is_read_as_the_standard_library_reads_it(text: str) -> None:
    import json

    for given in (text, text.encode()):
        back, expected = fastjson.loads(given), json.loads(text)
        assert back == expected and repr(back) == repr(expected)  # ints stay ints, floats floats, -0.0 signed


def test_given_a_value_nested_deeper_than_orjson_writes_then_it_is_still_read() -> None:
    text = "[" * 300 + "1.5" + "]" * 300
    value = fastjson.loads(text)
    for _ in range(300):
        value = value[0]
    assert value == 1.5


def test_given_values_of_every_key_kind_then_dumps_writes_the_text_it_wrote_with_non_string_keys() -> None:
    """`dumps` tries orjson's default first (string keys only, about twice as fast): the text must be the one
    OPT_NON_STR_KEYS gave for every value, and a dict with another key must still be written that way."""
    orjson = pytest.importorskip("orjson")
    from enum import StrEnum

    class Kind(StrEnum):
        PERSON = "person"

    values = [{"id": "p-1", "golden": {"title": "Zoë", "groups": ("a", "b")}, "n": 1, "f": 0.5, "none": None},
              {7: "an int key", "x": {8: [1, 2]}}, {Kind.PERSON: {"k": Kind.PERSON}}, {True: 1, None: 2},
              [{"deep": [{"er": {"est": 2**63 - 1}}]}], "plain", 3, [], {}]
    for value in values:
        assert fastjson.dumps(value) == orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        assert fastjson.loads(fastjson.dumps(value)) == orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
