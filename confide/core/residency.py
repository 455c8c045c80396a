"""Where personal data may go: the EEA, adequacy decisions and the safeguards of Art. 46.

Why a table in code: a transfer outside the European Economic Area is lawful only under an
adequacy decision (GDPR Art. 45) or appropriate safeguards such as standard contractual clauses
(Art. 46(2)(c)). Every place that configures a recipient (a subprocessor, an outbound webhook,
the SMTP relay) asks :func:`transfer_problem` the same question, so one list decides.

The adequacy list is the Commission's as of 2024 (Andorra, Argentina, Canada for commercial
organisations, Faroe Islands, Guernsey, Israel, Isle of Man, Japan, Jersey, New Zealand,
Republic of Korea, Switzerland, United Kingdom, Uruguay, and the United States for organisations
certified under the EU-US Data Privacy Framework). Review it when the Commission decides anew.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import phonenumbers

Safeguard = Literal["adequacy", "scc"]
SAFEGUARDS: tuple[Safeguard, ...] = ("adequacy", "scc")

# EU member states plus Iceland, Liechtenstein and Norway (the EEA Agreement).
EEA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
ADEQUACY_COUNTRIES = frozenset(
    ["AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US"]
)


# ISO 3166-1 alpha-2 codes in use: every region with a telephone numbering plan (the list
# phonenumbers keeps current) and the few territories without one.
COUNTRY_CODES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {
    "AQ",
    "BV",
    "GS",
    "HM",
    "PN",
    "TF",
    "UM",
}


def normalise_country(value: str) -> str:
    """``value`` as an upper-case ISO 3166-1 alpha-2 code of a real country or territory;
    raises ``ValueError`` otherwise (``ZZ`` is a code, but of no country)."""
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError(f"'{code[:8]}' is not a two-letter country code such as DE or US.")
    if code not in COUNTRY_CODES:
        raise ValueError(
            f"'{code}' is not the code of a country; use its ISO code, such as DE or US."
        )
    return code


def in_eea(country: str) -> bool:
    return country.upper() in EEA_COUNTRIES


def transfer_problem(
    country: str, safeguard: Safeguard | None, safeguard_date: date | None
) -> str | None:
    """Why data may not go to ``country`` with this safeguard, or ``None`` if it may.

    Inside the EEA no safeguard is needed. Outside it, ``adequacy`` needs a Commission decision
    for the country, ``scc`` needs the date the clauses were signed."""
    if in_eea(country):
        return None
    if safeguard is None:
        return (
            f"{country} is outside the EEA: record the safeguard (an adequacy decision, or "
            "standard contractual clauses with the date they were signed)."
        )
    if safeguard == "adequacy" and country.upper() not in ADEQUACY_COUNTRIES:
        return (
            f"The Commission has no adequacy decision for {country}; sign standard "
            "contractual clauses and record them with their date."
        )
    if safeguard == "scc" and safeguard_date is None:
        return "Give the date the standard contractual clauses were signed."
    return None
