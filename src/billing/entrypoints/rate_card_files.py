"""Rate cards from files: what `billing ratecard import`, the console's upload and `billing serve`'s first start read.

Both formats become the command `POST /rate-cards` builds (`CreateRateCard`), which the same use case checks:

- **JSON**: exactly the API's body (`RateCardCreate`), decoded the same way: unknown fields refused, prices read
  from their literal text (never through a float).
- **CSV**, as operators get rate cards from spreadsheets: UTF-8 (a byte-order mark is allowed), comma-separated,
  blank lines and lines starting with `#` ignored, cells trimmed of surrounding spaces. A header line names the
  columns (in any order; `tier_from` may be left out), then one row per country or rate (see `CSV_LAYOUT`).
  The card's name, effective date, tenant, currency and free-in-service-window categories are not in the file:
  they come from the command's options or the form's fields.

Options that are given replace a JSON file's own values. A problem of the file itself (its encoding, its header, a
row's number of cells, a country mapped twice) names its line; the card's problems that the domain finds name their
field and, for a CSV, the line the field came from (`CardFile.describe`).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from importlib import resources
from typing import Any, Literal

import attrs
import msgspec

from billing.application.handlers.rate_cards import CreateRateCard, create_rate_card
from billing.application.service import BillingService
from billing.domain.errors import FieldError, ValidationError
from billing.domain.pricing import RateCard
from billing.entrypoints.json_body import AwareDatetime, Body, RawAmount, amount_text, decode_body

CardFormat = Literal["json", "csv"]
CSV_COLUMNS = ("country", "market", "category", "unit_price", "tier_from")
_REQUIRED_COLUMNS = CSV_COLUMNS[:4]
CSV_LAYOUT = """\
CSV layout (UTF-8, comma-separated; blank lines and lines starting with # are ignored):
  country,market,category,unit_price,tier_from      the header (tier_from may be left out)
  US,North America,,,                               a country's market: country and market, nothing else
  *,Other,,,                                        * maps every other country
  ,North America,utility,0.0034,                    a rate: market, category and unit_price, no country
  ,North America,utility,0.0030,1000                a volume tier: the price from the 1000th message of the month
tier_from left empty is 1. Categories: marketing, utility, authentication, authentication_international, service.
The name, effective date, tenant, currency and free-in-service-window categories come from the options
(the form's fields in the console)."""
EFFECTIVE_FROM_FORMAT = "must be a date (2026-01-01: midnight UTC) or a date-time with a time zone (2026-01-01T00:00Z)"
SAMPLE_CARD = "meta_usd.json"
_RATE_FIELD = re.compile(r"rates\[\d+\]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class RateIn(Body):
    # Missing ones are left to the domain, which names them with the card's other problems.
    market: Any = None
    category: Any = None
    unit_price: RawAmount | msgspec.UnsetType = msgspec.UNSET
    tier_from: Any = 1


class RateCardCreate(Body):
    """Loosely typed on purpose: the domain checks every rule and lists every problem at once."""

    name: str
    currency: str
    effective_from: AwareDatetime
    markets: Any
    rates: list[RateIn]
    tenant_id: str | None = None
    free_in_service_window: Any = msgspec.field(default_factory=list)
    kind: Any = None  # "price" (absent) or "cost" (contract v3 §15); checked by the domain

    def command(self) -> CreateRateCard:
        """The use case's command, as the API, the CLI and the console all send it."""
        return CreateRateCard(
            self.name,
            self.currency,
            self.effective_from,
            self.tenant_id,
            self.free_in_service_window,
            self.markets,
            [_rate_as_sent(index, rate) for index, rate in enumerate(self.rates)],
            kind=self.kind,
        )


def _rate_as_sent(index: int, rate: RateIn) -> dict[str, Any]:
    """A rate's unit price as its literal text (never a float), for the domain to read."""
    price: str | None = None
    if isinstance(rate.unit_price, msgspec.Raw):
        try:
            price = amount_text(rate.unit_price, f"rates[{index}].unit_price")
        except ValidationError:  # not a string or number: the domain names it with the card's other problems
            price = bytes(rate.unit_price).decode("utf-8", "replace")
    return {"market": rate.market, "category": rate.category, "unit_price": price, "tier_from": rate.tier_from}


@attrs.frozen
class CardOptions:
    """What an operator gives beside the file; None (or empty) is "not given"."""

    name: str | None = None
    effective_from: str | None = None  # see EFFECTIVE_FROM_FORMAT
    tenant_id: str | None = None
    currency: str | None = None
    free_in_service_window: str | None = None  # comma-separated categories; "" for none


@attrs.frozen
class CardFile:
    """A card read from a file, ready for the use case, and where each of its fields came from (CSV lines)."""

    command: CreateRateCard
    lines: Mapping[str, int] = attrs.field(factory=dict)  # "rates[3]", "markets.US" -> line in the file

    def line_of(self, field: str) -> int | None:
        rate = _RATE_FIELD.match(field)
        return self.lines.get(rate.group(0) if rate else field)

    def describe(self, error: FieldError) -> str:
        """`field: message`, with the file's line when the field came from one."""
        line = self.line_of(error.field)
        return f"{error.field}{f' (line {line})' if line else ''}: {error.message}"


def card_format(filename: str) -> CardFormat:
    """A file's format by its name."""
    lowered = filename.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(".csv"):
        return "csv"
    raise ValidationError.of("file", "must be a .json file (the API's body) or a .csv file")


def read_card(filename: str, content: bytes, options: CardOptions, *, default_currency: str) -> CardFile:
    """The card in a file, with the options applied; a ValidationError lists the problems of the file itself."""
    kind = card_format(filename)
    content = content.removeprefix(codecs.BOM_UTF8)
    if not content.strip():
        raise ValidationError.of("file", "is empty")
    if kind == "json":
        return CardFile(_json_command(content, options))
    return _csv_card(content, options, default_currency)


def parse_effective_from(value: str, *, field: str = "effective_from") -> datetime:
    """An option's effective date: a date alone is midnight UTC; a date-time must carry its time zone."""
    text = value.strip()
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError.of(field, EFFECTIVE_FROM_FORMAT) from None
    if at.utcoffset() is None:
        raise ValidationError.of(field, EFFECTIVE_FROM_FORMAT)
    return at


# Options -----------------------------------------------------------------------------------------------------------


@attrs.frozen
class _Given:
    """The options that were given, parsed; `problems` lists the ones that could not be."""

    values: dict[str, Any]
    problems: list[FieldError]

    @classmethod
    def of(cls, options: CardOptions) -> _Given:
        values: dict[str, Any] = {}
        problems: list[FieldError] = []
        if options.name:
            values["name"] = options.name
        if options.effective_from:
            try:
                values["effective_from"] = parse_effective_from(options.effective_from)
            except ValidationError as error:
                problems.extend(error.errors)
        if options.tenant_id:
            values["tenant_id"] = options.tenant_id.strip()
        if options.currency:
            values["currency"] = options.currency.strip()
        if options.free_in_service_window is not None:
            categories = options.free_in_service_window.split(",")
            values["free_in_service_window"] = [category.strip() for category in categories if category.strip()]
        return cls(values, problems)


# JSON: the API's body ----------------------------------------------------------------------------------------------


def _json_command(content: bytes, options: CardOptions) -> CreateRateCard:
    given = _Given.of(options)
    if given.problems:
        raise ValidationError(given.problems)
    body = content
    if given.values:
        try:  # the file's own values stay raw (prices as written); the options replace theirs
            fields = msgspec.json.decode(content, type=dict[str, msgspec.Raw])
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass  # not an object: decode_body says what is wrong, as the API would
        else:
            replaced = {name: msgspec.Raw(msgspec.json.encode(_json_value(v))) for name, v in given.values.items()}
            body = msgspec.json.encode({**fields, **replaced})
    return decode_body(body, RateCardCreate).command()


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


# CSV: a spreadsheet's export ---------------------------------------------------------------------------------------


class _CsvReader:
    """One pass over the rows: each country's market and each rate, and the line each came from."""

    def __init__(self) -> None:
        self.header: tuple[str, ...] | None = None
        self.markets: dict[str, str] = {}
        self.rates: list[dict[str, object]] = []
        self.lines: dict[str, int] = {}
        self.problems: list[FieldError] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(FieldError(f"line {line}", message))

    def read(self, text: str) -> None:
        for number, line in enumerate(_LINE_BREAK.split(text), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                cells = [cell.strip() for cell in next(csv.reader([line], strict=True))]
            except csv.Error as error:
                self.problem(number, f"is not a valid CSV row ({error})")
                continue
            if not any(cells):  # a spreadsheet's empty row: ",,,,"
                continue
            if self.header is None:
                self.header = _header(cells, number)
            elif len(cells) != len(self.header):
                self.problem(number, f"has {len(cells)} cells, the header {len(self.header)} ({','.join(self.header)})")
            else:
                self.row(number, dict(zip(self.header, cells, strict=True)))
        if self.header is None:
            raise ValidationError.of("file", f"has no header line ({','.join(CSV_COLUMNS)})")

    def row(self, number: int, row: dict[str, str]) -> None:
        country, market, category = row["country"], row["market"], row["category"]
        price, tier = row["unit_price"], row.get("tier_from", "")
        if country and not category:
            if price or tier:
                self.problem(number, "a country's row has no unit_price or tier_from (a rate's row has no country)")
            elif (earlier := self.lines.get(f"markets.{country}")) is not None:
                self.problem(number, f"maps {country} again (line {earlier} maps it already)")
            else:
                self.markets[country] = market
                self.lines[f"markets.{country}"] = number
        elif category and not country:
            self.lines[f"rates[{len(self.rates)}]"] = number
            self.rates.append(
                {"market": market, "category": category, "unit_price": price or None, "tier_from": _tier(tier)}
            )
        else:
            self.problem(
                number,
                "must be a country's market (country and market) or a rate (market, category and unit_price, "
                "no country)",
            )


def _header(cells: list[str], line: int) -> tuple[str, ...]:
    names = tuple(cell.lower() for cell in cells)
    unknown = [name for name in names if name not in CSV_COLUMNS]
    missing = [name for name in _REQUIRED_COLUMNS if name not in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if unknown or missing or repeated:
        wrong = [
            *(f"unknown column {name!r}" for name in unknown),
            *(f"no {name!r} column" for name in missing),
            *(f"{name!r} twice" for name in repeated),
        ]
        raise ValidationError.of(
            f"line {line}",
            f"must be the header {','.join(CSV_COLUMNS)} (comma-separated, tier_from optional): {'; '.join(wrong)}",
        )
    return names


def _tier(cell: str) -> object:
    """A tier's first message: empty is the default (1); a whole number as a number; anything else as written,
    for the domain to refuse with its own message."""
    if not cell:
        return None
    return int(cell) if cell.isascii() and cell.isdigit() and len(cell) <= 12 else cell


def _utf8(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise ValidationError.of(f"line {line}", "is not UTF-8 text (save the file as CSV UTF-8)") from None


def _csv_card(content: bytes, options: CardOptions, default_currency: str) -> CardFile:
    reader = _CsvReader()
    reader.read(_utf8(content))
    given = _Given.of(options)
    problems = [*given.problems, *reader.problems]
    for required in ("name", "effective_from"):
        if not getattr(options, required):
            problems.append(FieldError(required, "is required for a CSV file"))
    if problems:
        raise ValidationError(problems)
    values = given.values
    command = CreateRateCard(
        name=values["name"],
        currency=values.get("currency", default_currency),
        effective_from=values["effective_from"],
        tenant_id=values.get("tenant_id"),
        free_in_service_window=values.get("free_in_service_window", []),
        markets=reader.markets,
        rates=reader.rates,
    )
    return CardFile(command, reader.lines)


# The embedded first start ------------------------------------------------------------------------------------------


def sample_card() -> bytes:
    """The card shipped with the package (Meta's USD list rates; see data/rate_cards/SOURCE.md)."""
    return resources.files("billing.data").joinpath("rate_cards", SAMPLE_CARD).read_bytes()


async def import_sample_card(service: BillingService) -> RateCard | None:
    """The shipped sample as the default card when the database has no rate card at all (any tenant's counts);
    None when it has one. Raises the use case's error when the sample does not fit the deployment (its currency)."""
    platform = service.as_platform("serve")
    if (await platform.rate_cards(page_size=1)).total:
        return None
    card = read_card(SAMPLE_CARD, sample_card(), CardOptions(), default_currency=service.runtime.settings.currency)
    return await platform.run(create_rate_card, card.command)
