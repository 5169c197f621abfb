"""`billing ratecard import` (a JSON or CSV file) and `billing ratecard list` on a real database, and the sample card
that `billing serve` imports on its embedded database's first start."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from api_support import SECRET

import billing
import billing.container
from billing.config import Settings
from billing.container import close, postgres_container
from billing.domain.pricing import Category, RateCard
from billing.entrypoints import cli
from billing.entrypoints.cli import import_sample_card_on_first_start, main
from billing.entrypoints.rate_card_files import CardOptions, read_card, sample_card

SAMPLE = Path(billing.__file__).parent / "data" / "rate_cards" / "meta_usd.json"
SAMPLE_BODY: dict[str, Any] = json.loads(SAMPLE.read_text())
SMALL_CSV = """\
\ufeff# Clinic B's negotiated prices, exported from a spreadsheet
country,market,category,unit_price,tier_from
US,North America,,,
CA, North America ,,,
*,"Rest of the world, all of it",,,

,North America,utility,0.0034,
,North America,utility,0.0030,1000
,,,,
,North America,marketing,0.025,
,"Rest of the world, all of it",marketing,0.0604,
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BILLING_* from the outside, and ./.billing/ in a fresh directory."""
    for name in ["DATABASE_URL", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "ROOT_TENANT", "CURRENCY", "SMTP_URL"]:
        monkeypatch.delenv(f"BILLING_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    return database_url


def stored_cards(database_url: str) -> list[RateCard]:
    """Every card, read back through a fresh container (latest effective date first)."""

    async def read() -> list[RateCard]:
        container = postgres_container(Settings(database_url=database_url))
        try:
            page = await container.service().as_platform("test").rate_cards(page_size=100)
            return list(page.items)
        finally:
            await close(container)

    return asyncio.run(read())


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def problems(err: str) -> list[str]:
    """The problem lines of a refused card (after the line saying it was refused)."""
    first, *rest = err.splitlines()
    assert first.startswith("billing: the rate card in "), err
    assert "was refused" in first, err
    return [line.strip() for line in rest]


# import: JSON ---------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_shipped_sample_card_imports_as_the_default_card(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratecard", "import", str(SAMPLE)]) == 0

    out = capsys.readouterr().out
    [card] = stored_cards(database)
    assert f"imported rate card {card.id}" in out
    assert f"name:            {SAMPLE_BODY['name']}" in out
    assert "tenant:          default" in out
    assert "effective from:  2026-01-01T00:00:00Z" in out
    assert f"rates:           {len(SAMPLE_BODY['rates'])} " in out
    assert (card.name, card.tenant_id, card.created_by) == (SAMPLE_BODY["name"], None, "module:cli")
    assert card.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert len(card.rates) == len(SAMPLE_BODY["rates"])
    assert dict(card.markets) == SAMPLE_BODY["markets"]
    assert card.free_in_service_window == {Category.UTILITY, Category.SERVICE}
    india = card.rate("India", Category.MARKETING, 1)
    assert india is not None
    assert india.unit_price.amount == Decimal("0.0118")


@pytest.mark.postgres
def test_options_replace_a_json_files_values(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "ratecard",
            "import",
            str(SAMPLE),
            "--tenant",
            "clinic-a",
            "--effective-from",
            "2027-03-01T09:00:00+02:00",
            "--name",
            "Clinic A, Meta list prices",
            "--free-in-service-window",
            "service",
        ]
    )

    assert code == 0, capsys.readouterr().err
    [card] = stored_cards(database)
    assert (card.tenant_id, card.name) == ("clinic-a", "Clinic A, Meta list prices")
    assert card.effective_from == datetime(2027, 3, 1, 7, tzinfo=UTC)
    assert card.free_in_service_window == {Category.SERVICE}
    assert len(card.rates) == len(SAMPLE_BODY["rates"])


@pytest.mark.postgres
def test_a_refused_json_card_lists_every_problem_and_exits_2(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = {
        "name": "Broken",
        "currency": "EUR",
        "effective_from": "2026-01-01T00:00:00Z",
        "markets": {"us": "North America"},
        "rates": [{"market": "Atlantis", "category": "spam", "unit_price": "-0.01"}],
    }

    code = main(["ratecard", "import", write(tmp_path, "broken.json", json.dumps(body))])

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    listed = problems(err)
    assert [line.split(":")[0] for line in listed] == [
        "currency",
        "markets.us",
        "rates[0].market",
        "rates[0].category",
        "rates[0].unit_price",
    ]
    assert "currency: must be USD, the currency of this deployment" in listed
    assert "rates[0].market: 'Atlantis' is not a market of this card's markets" in listed
    assert stored_cards(database) == []


# import: a card that changes no price ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_importing_the_card_in_force_again_imports_nothing_and_exits_3(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ratecard", "import", str(SAMPLE)]) == 0
    [first] = stored_cards(database)
    capsys.readouterr()

    code = main(["ratecard", "import", str(SAMPLE), "--name", "Meta's prices, once more"])

    out, err = capsys.readouterr()
    assert code == 3
    assert out == ""
    what, hint = err.splitlines()
    assert what == (
        f"billing: nothing imported from {SAMPLE}: the default card in force from 2026-01-01T00:00:00Z ({first.id}, "
        f"{SAMPLE_BODY['name']!r}) has the same prices: this card would change none"
    )
    assert "--again" in hint
    assert [card.id for card in stored_cards(database)] == [first.id]


@pytest.mark.postgres
def test_again_imports_the_same_prices_all_the_same(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratecard", "import", str(SAMPLE)]) == 0

    assert main(["ratecard", "import", str(SAMPLE), "--again"]) == 0

    assert "imported rate card" in capsys.readouterr().out
    assert [card.name for card in stored_cards(database)] == [SAMPLE_BODY["name"]] * 2


@pytest.mark.postgres
def test_the_same_file_for_a_tenant_or_with_another_price_is_a_new_card(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dearer = {**SAMPLE_BODY, "rates": [{**SAMPLE_BODY["rates"][0], "unit_price": "0.9999"}, *SAMPLE_BODY["rates"][1:]]}
    assert main(["ratecard", "import", str(SAMPLE)]) == 0

    assert main(["ratecard", "import", str(SAMPLE), "--tenant", "clinic-a"]) == 0  # a scope of its own
    assert main(["ratecard", "import", write(tmp_path, "dearer.json", json.dumps(dearer))]) == 0

    assert capsys.readouterr().err == ""
    assert sorted((card.tenant_id or "", card.rates[0].unit_price.amount) for card in stored_cards(database)) == [
        ("", Decimal(SAMPLE_BODY["rates"][0]["unit_price"])),
        ("", Decimal("0.9999")),
        ("clinic-a", Decimal(SAMPLE_BODY["rates"][0]["unit_price"])),
    ]


# import: CSV ----------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_csv_card_imports_with_its_tiers_and_options(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        [
            "ratecard",
            "import",
            write(tmp_path, "clinic-b.csv", SMALL_CSV),
            "--name",
            "Clinic B 2026",
            "--effective-from",
            "2026-02-01",
            "--tenant",
            "clinic-b",
            "--free-in-service-window",
            "utility, service",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    [card] = stored_cards(database)
    assert f"imported rate card {card.id}" in out
    assert "rates:           4 (2 markets, 3 countries mapped)" in out
    assert (card.name, card.tenant_id, card.currency) == ("Clinic B 2026", "clinic-b", "USD")
    assert card.effective_from == datetime(2026, 2, 1, tzinfo=UTC)
    assert card.free_in_service_window == {Category.UTILITY, Category.SERVICE}
    world = "Rest of the world, all of it"
    assert dict(card.markets) == {"US": "North America", "CA": "North America", "*": world}
    assert [(r.market, r.category.value, str(r.unit_price), r.tier_from) for r in card.rates] == [
        ("North America", "utility", "0.0034", 1),
        ("North America", "utility", "0.003", 1000),
        ("North America", "marketing", "0.025", 1),
        (world, "marketing", "0.0604", 1),
    ]


@pytest.mark.postgres
def test_a_refused_csv_card_names_each_problems_line(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    content = """\
country,market,category,unit_price,tier_from
usa,North America,,,
,North America,utility,0.0034,
# a comment keeps its line
,Atlantis,marketing,0.01,
,North America,utility,0.0030,many
"""

    code = main(
        ["ratecard", "import", write(tmp_path, "bad.csv", content), "--name", "x", "--effective-from", "2026-01-01"]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    listed = problems(err)
    assert listed == [
        'markets.usa (line 2): must be an ISO 3166-1 alpha-2 country code in upper case, or "*"',
        "rates[1].market (line 5): 'Atlantis' is not a market of this card's markets",
        "rates[2].tier_from (line 6): must be a whole number from 1 to 2147483647",
    ]
    assert stored_cards(database) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "# header below\ncountry,market,price\n",
            "line 2: must be the header country,market,category,unit_price,tier_from (comma-separated, tier_from "
            "optional): unknown column 'price'; no 'category' column; no 'unit_price' column",
        ),
        (
            "country;market;category;unit_price\n",
            "line 1: must be the header country,market,category,unit_price,tier_from (comma-separated, tier_from "
            "optional): unknown column 'country;market;category;unit_price'; no 'country' column; "
            "no 'market' column; no 'category' column; no 'unit_price' column",
        ),
        (
            "country,market,category,unit_price,tier_from\nUS,North America,,,\n\n,North America,utility,0.01\n",
            "line 4: has 4 cells, the header 5 (country,market,category,unit_price,tier_from)",
        ),
        (
            "country,market,category,unit_price\nUS,North America,,\nUS,Elsewhere,,\n",
            "line 3: maps US again (line 2 maps it already)",
        ),
        (
            "country,market,category,unit_price\nUS,North America,utility,0.01\n",
            "line 2: must be a country's market (country and market) or a rate (market, category and unit_price, "
            "no country)",
        ),
        (
            b"country,market,category,unit_price\nUS,North America,,\nFR,Fran\xe7e,,\n",
            "line 3: is not UTF-8 text (save the file as CSV UTF-8)",
        ),
        ("# only a comment\n", "file: has no header line (country,market,category,unit_price,tier_from)"),
    ],
)
def test_a_bad_csv_file_names_the_line_before_touching_the_database(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | bytes,
    expected: str,
) -> None:
    # Nothing answers at this address: the file is checked first.
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    path = write(tmp_path, "card.csv", content)

    code = main(["ratecard", "import", path, "--name", "n", "--effective-from", "2026-01-01"])

    err = capsys.readouterr().err
    assert code == 2
    assert expected in problems(err)
    assert "Traceback" not in err


def test_a_csv_needs_a_name_and_an_effective_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    code = main(["ratecard", "import", write(tmp_path, "card.csv", SMALL_CSV), "--effective-from", "next week"])

    assert code == 2
    assert problems(capsys.readouterr().err) == [
        "effective_from: must be a date (2026-01-01: midnight UTC) or a date-time with a time zone (2026-01-01T00:00Z)",
        "name: is required for a CSV file",
    ]


def test_a_file_that_is_neither_json_nor_csv_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    assert main(["ratecard", "import", write(tmp_path, "card.xlsx", b"PK\x03\x04")]) == 2
    assert problems(capsys.readouterr().err) == ["file: must be a .json file (the API's body) or a .csv file"]


def test_the_help_documents_the_csv_layout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ratecard", "import", "--help"])

    out = capsys.readouterr().out
    assert "country,market,category,unit_price,tier_from" in out
    assert "* maps every other country" in out


# list -----------------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_list_shows_every_card_latest_effective_date_first(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_path = write(tmp_path, "clinic-b.csv", SMALL_CSV)
    assert main(["ratecard", "import", str(SAMPLE)]) == 0
    assert (
        main(
            [
                "ratecard",
                "import",
                csv_path,
                "--name",
                "Clinic B",
                "--effective-from",
                "2026-06-01",
                "--tenant",
                "clinic-b",
            ]
        )
        == 0
    )
    capsys.readouterr()
    clinic_card, default_card = stored_cards(database)

    assert main(["ratecard", "list"]) == 0

    header, first, second, summary = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "TENANT", "EFFECTIVE", "FROM", "RATES", "NAME"]
    assert first.split(maxsplit=4) == [str(clinic_card.id), "clinic-b", "2026-06-01T00:00:00Z", "4", "Clinic B"]
    assert second.split(maxsplit=4) == [
        str(default_card.id),
        "default",
        "2026-01-01T00:00:00Z",
        str(len(SAMPLE_BODY["rates"])),
        SAMPLE_BODY["name"],
    ]
    assert summary == "2 rate card(s), latest effective date first"

    assert main(["ratecard", "list", "--tenant", "clinic-b"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:-1]] == [str(clinic_card.id)]


@pytest.mark.postgres
def test_list_of_an_empty_database(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratecard", "list"]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == "0 rate card(s), latest effective date first"


@pytest.mark.parametrize("command", [["list"], ["import", str(SAMPLE)]])
def test_ratecard_commands_need_a_database_url(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main(["ratecard", *command]) == 2
    assert "BILLING_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["list"], ["import", str(SAMPLE)]])
def test_an_unreachable_database_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody:hunter2-secret@127.0.0.1:1/none")

    assert main(["ratecard", *command]) == 1

    err = capsys.readouterr().err
    what_failed, what_to_check = err.splitlines()
    assert what_failed.startswith("billing: cannot reach the database at postgresql://nobody:***@127.0.0.1:1/none: ")
    assert "BILLING_DATABASE_URL" in what_to_check
    assert "hunter2-secret" not in err


# billing serve's first start on the embedded database ------------------------------------------------------------


@pytest.mark.postgres
def test_the_first_start_imports_the_sample_card_and_a_second_start_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)

    first = asyncio.run(import_sample_card_on_first_start(settings))
    first_said = capsys.readouterr().out
    second = asyncio.run(import_sample_card_on_first_start(settings))

    assert first is not None
    assert second is None
    assert capsys.readouterr().out == ""
    assert first_said.count("\n") == 1
    assert "imported the sample rate card meta_usd.json as the default card" in first_said
    [card] = stored_cards(database_url)
    assert (card.id, card.tenant_id, card.name, card.created_by) == (
        first.id,
        None,
        SAMPLE_BODY["name"],
        "module:serve",
    )
    assert len(card.rates) == len(SAMPLE_BODY["rates"])


@pytest.mark.postgres
def test_any_existing_card_even_a_clinics_means_no_import(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_path = write(tmp_path, "clinic-b.csv", SMALL_CSV)
    assert (
        main(["ratecard", "import", csv_path, "--name", "B", "--effective-from", "2026-01-01", "--tenant", "clinic-b"])
        == 0
    )
    capsys.readouterr()

    assert asyncio.run(import_sample_card_on_first_start(Settings(database_url=database))) is None

    assert capsys.readouterr().out == ""
    assert [card.tenant_id for card in stored_cards(database)] == ["clinic-b"]


@pytest.mark.postgres
def test_a_deployment_in_another_currency_starts_without_the_sample(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"BILLING_CURRENCY": "EUR"})

    imported = asyncio.run(import_sample_card_on_first_start(attrs.evolve(settings, database_url=database_url)))

    assert imported is None
    assert capsys.readouterr().out == (
        "the sample rate card meta_usd.json was not imported: currency: must be EUR, the currency of this deployment\n"
    )
    assert stored_cards(database_url) == []


class FakeEmbeddedPostgres:
    """`billing serve`'s embedded server, standing in for the wheel's: the test's database, already running."""

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> str:
        return self.url

    def stop(self) -> None:
        pass


@pytest.fixture
def serve_without_a_server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`billing serve` up to the moment it would listen (uvicorn is not started); the addresses it would serve."""
    served: list[str] = []
    monkeypatch.setattr(cli, "_run_uvicorn", lambda host, port, workers: served.append(f"{host}:{port}"))
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)
    for name in ["BILLING_DATABASE_URL", "BILLING_JWT_SECRET"]:  # serve exports them: restore them afterwards
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    return served


@pytest.mark.postgres
def test_serve_on_the_embedded_database_imports_the_sample_on_its_first_start_only(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve_without_a_server: list[str],
) -> None:
    monkeypatch.setattr(billing.container, "embedded_postgres", lambda data_dir: FakeEmbeddedPostgres(database_url))

    assert main(["serve"]) == 0
    first_start = capsys.readouterr().out
    monkeypatch.delenv("BILLING_DATABASE_URL")  # a new shell: the embedded default again
    monkeypatch.delenv("BILLING_JWT_SECRET")
    assert main(["serve"]) == 0
    second_start = capsys.readouterr().out

    assert serve_without_a_server == ["127.0.0.1:8000", "127.0.0.1:8000"]
    assert [line for line in first_start.splitlines() if "sample rate card" in line] == [
        f"first start: imported the sample rate card meta_usd.json as the default card ({len(SAMPLE_BODY['rates'])} "
        "rates, effective from 2026-01-01T00:00:00Z; `billing ratecard list` shows it)"
    ]
    assert "rate card" not in second_start
    assert [(card.tenant_id, card.name) for card in stored_cards(database_url)] == [(None, SAMPLE_BODY["name"])]


@pytest.mark.postgres
def test_serve_with_a_database_url_loads_no_card(
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve_without_a_server: list[str],
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", database)
    monkeypatch.setenv("BILLING_JWT_SECRET", SECRET)

    assert main(["serve"]) == 0

    assert serve_without_a_server == ["127.0.0.1:8000"]
    assert "rate card" not in capsys.readouterr().out
    assert stored_cards(database) == []


def test_the_sample_card_ships_as_package_data_and_reads_as_the_api_body() -> None:
    card = read_card("meta_usd.json", sample_card(), CardOptions(), default_currency="USD")

    assert sample_card() == SAMPLE.read_bytes()
    assert card.command.name == SAMPLE_BODY["name"]
    assert card.command.rates == [{**rate, "tier_from": rate.get("tier_from", 1)} for rate in SAMPLE_BODY["rates"]]
