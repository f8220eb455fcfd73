"""The E.164 normaliser's short cut for North American numbers (`normalize._NANP`) gives what phonenumbers gives.

What a user checks: a phone written any of the usual ways is stored and compared in the same E.164 form as
before the short cut. Generated numbers (area codes and exchanges of every first digit, with and without the
country code, in every separator style, with stray spaces), each normalised by the short cut and by
phonenumbers itself; the short cut must agree wherever it answers, and must answer the usual formats."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from peoplesync import normalize


def by_phonenumbers(v: str, region: str) -> str | None:
    """What `normalize._e164` answers without its short cuts (the same code path, parsed)."""
    try:
        parsed = phonenumbers.parse(v, region)
    except phonenumbers.NumberParseException:
        return v.strip() or None
    if not phonenumbers.is_possible_number(parsed):
        return v.strip() or None
    text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return text + (f";ext={parsed.extension}" if parsed.extension else "")


def written(rng: random.Random) -> str:
    area = f"{rng.randrange(0, 10)}{rng.randrange(0, 100):02d}"
    exchange = f"{rng.randrange(0, 10)}{rng.randrange(0, 100):02d}"
    line = f"{rng.randrange(0, 10000):04d}"
    sep = rng.choice(["", " ", "-", ".", "  ", " - "])
    head = rng.choice(["", "1", "+1", "+1 ", "1-", "1 ", "+1-", "+1.", "1.", "+ 1 ", "01", "+11"])
    body = rng.choice([f"{area}{sep}{exchange}{sep}{line}", f"({area}){sep}{exchange}{sep}{line}",
                       f"({area}) {exchange}-{line}", f"{area}){exchange}-{line}", f"({area}{exchange}{line}"])
    return rng.choice(["", " ", "\t"]) + head + body + rng.choice(["", " ", "\n"])


@pytest.mark.parametrize("region", ["US", "CA"])
def test_given_generated_north_american_numbers_then_the_short_cut_agrees_with_phonenumbers(region: str) -> None:
    rng = random.Random(20261129)
    norm = normalize.build("e164", region)
    answered = 0
    for _ in range(6000):
        v = written(rng)
        if normalize._NANP.fullmatch(v.strip()):
            answered += 1
        assert norm(v) == by_phonenumbers(v, region), v
    assert answered > 1000  # the short cut is taken for a good share of them (else this compares nothing)


@pytest.mark.parametrize("v", ["+1 317 555 0101", "(317) 555-0101", "317.555.0101", "1-317-555-0101",
                               "317-555-0101", "3175550101", "13175550101", " (317) 555-0101 "])
def test_given_the_usual_formats_then_the_short_cut_answers_them_as_phonenumbers_does(v: str) -> None:
    assert normalize._NANP.fullmatch(v.strip())
    assert normalize.build("e164", "US")(v) == by_phonenumbers(v, "US") == "+13175550101"


def test_given_another_region_then_north_american_looking_numbers_are_parsed() -> None:
    assert normalize.build("e164", "GB")("020 7946 0958") == by_phonenumbers("020 7946 0958", "GB") == "+442079460958"
    assert normalize.build("e164", "GB")("(317) 555-0101") == by_phonenumbers("(317) 555-0101", "GB")


def canonical_looking(rng: random.Random) -> str:
    return "+" + str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10)) for _ in range(rng.randrange(6, 15)))


@pytest.mark.parametrize("region", ["US", "GB", "DE"])
def test_given_text_shaped_like_e164_then_it_is_normalised_as_phonenumbers_does(region: str) -> None:
    rng = random.Random(20261130)
    norm = normalize.build("e164", region)
    for _ in range(3000):
        v = canonical_looking(rng)
        assert norm(v) == by_phonenumbers(v, region), v


@pytest.mark.parametrize("v", ["+4402079460958", "+44 (0)20 7946 0958", "020 7946 0958", "+44 20 7946 0958"])
def test_given_a_trunk_prefix_after_the_country_code_then_it_is_the_same_number(v: str) -> None:
    assert normalize.build("e164", "GB")(v) == "+442079460958"
