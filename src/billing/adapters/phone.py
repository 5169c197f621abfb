"""The country of a phone number, from Google's libphonenumber (`phonenumbers`): never a prefix table."""

from __future__ import annotations

import phonenumbers


class PhonenumbersCountry:
    """`CountryOfNumber` on libphonenumber's metadata: a number valid in its plan, and its region."""

    def country_of(self, number: str) -> str | None:
        digits = number.strip()
        if not digits.startswith("+"):
            digits = "+" + digits  # E.164 with the `+` optional (Meta's webhooks send none)
        if len(digits) > 16 or not digits[1:].isdigit():  # E.164: at most 15 digits, nothing else
            return None
        try:
            parsed = phonenumbers.parse(digits, None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(parsed):
            return None
        region = phonenumbers.region_code_for_number(parsed)
        return region if region and region != "ZZ" else None
