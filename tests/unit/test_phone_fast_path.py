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
        if normalize._CANONICAL.fullmatch(v):
            continue  # written in E.164 already: kept as written, by the older short cut (not this one's)
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
