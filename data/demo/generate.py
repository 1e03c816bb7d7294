"""Generate the ``data/demo`` retrieval set: commercial contract clauses (BEIR layout).

The set pairs plain-language questions a business user would ask ("can we walk
away from the Northwind deal early?") with the formally drafted contract clause
that answers them ("... may terminate this Agreement for convenience upon
sixty (60) days' prior written notice ..."). Queries deliberately avoid the
clause's key legal terms, so a model has to bridge the vocabulary gap.

Everything is built from hand-written templates in this file, filled with
fictional parties, durations, amounts, jurisdictions and so on by a seeded
``random.Random``; no network access and no third-party packages are needed.

Each clause topic gets ``DOCS_PER_TOPIC`` clauses, each for a different party
and (where the topic has one) a different key value, so the specifics in a
query (party name and/or value) single out exactly one relevant clause; the
other clauses of the same topic act as hard negatives. Some clauses get no
query at all and serve as distractors.

Files written (into ``--out``, default: this script's folder)::

    corpus.jsonl        {"_id": "c0001", "title": ..., "text": ...}
    queries.jsonl       {"_id": "q0001", "text": ...}
    qrels/train.tsv     query-id<TAB>corpus-id<TAB>score   (about 2/3 of queries)
    qrels/test.tsv      same, the remaining queries

Run from the repository root::

    python data/demo/generate.py              # writes into data/demo/
    python data/demo/generate.py --out /tmp/x # writes elsewhere

The output is byte-identical on every run.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240611
DOCS_PER_TOPIC = 16  # clauses per topic (each for a different party)
QUERIED_PER_TOPIC = 11  # of those, how many get a query; the rest are distractors
TEST_FRACTION = 1 / 3
# How a query points at its clause: by party name, by key value, or by both.
MODE_WEIGHTS = {"party": 0.30, "value": 0.55, "both": 0.15}
CLAUSE_WORDS = (40, 120)
QUERY_WORDS = (5, 20)

# --------------------------------------------------------------------------
# Parties and agreement types
# --------------------------------------------------------------------------

# (full legal name used in the documents, short name a business user would say)
PARTIES: list[tuple[str, str]] = [
    ("Northwind Logistics Ltd.", "Northwind"),
    ("Halcyon Data Systems, Inc.", "Halcyon"),
    ("Brightwater Foods plc", "Brightwater"),
    ("Kestrel Manufacturing GmbH", "Kestrel"),
    ("Orion Packaging Solutions LLC", "Orion Packaging"),
    ("Bluefin Analytics Ltd.", "Bluefin"),
    ("Granite Peak Construction Inc.", "Granite Peak"),
    ("Silverline Telecom S.A.", "Silverline"),
    ("Maple & Finch Consulting LLP", "Maple & Finch"),
    ("Tessera Medical Devices Inc.", "Tessera"),
    ("Copperleaf Energy Corp.", "Copperleaf"),
    ("Vantage Freight Partners LLC", "Vantage Freight"),
    ("Ironbridge Software Ltd.", "Ironbridge"),
    ("Lumen Retail Group B.V.", "Lumen Retail"),
    ("Pinecrest Chemicals Inc.", "Pinecrest"),
    ("Harborview Facilities Management Ltd.", "Harborview"),
    ("Quillon Payments Ltd.", "Quillon"),
    ("Redwood Hill Agritech, Inc.", "Redwood Hill"),
    ("Sableton Security Services Ltd.", "Sableton"),
    ("Altamira Textiles S.L.", "Altamira"),
    ("Cobalt Cloud Services, Inc.", "Cobalt Cloud"),
    ("Everstone Components Pte. Ltd.", "Everstone"),
    ("Fairhaven Print & Media Ltd.", "Fairhaven"),
    ("Juniper Lane Hospitality Group Ltd.", "Juniper Lane"),
    ("Meridian Fleet Leasing plc", "Meridian Fleet"),
    ("Nordhavn Marine AS", "Nordhavn"),
    ("Oakridge Laboratory Supplies LLC", "Oakridge"),
    ("Palisade Robotics Corp.", "Palisade"),
    ("Sunmark Beverages Pty Ltd", "Sunmark"),
    ("Westbrook Staffing Solutions Inc.", "Westbrook"),
]

# Agreement type -> (defined term for the counterparty, defined term for "us").
AGREEMENTS: dict[str, tuple[str, str]] = {
    "Master Services Agreement": ("Service Provider", "Client"),
    "Consulting Agreement": ("Consultant", "Company"),
    "Logistics Services Agreement": ("Carrier", "Shipper"),
    "Outsourcing Agreement": ("Contractor", "Customer"),
    "Software License Agreement": ("Licensor", "Licensee"),
    "SaaS Subscription Agreement": ("Provider", "Customer"),
    "Supply Agreement": ("Supplier", "Buyer"),
    "Distribution Agreement": ("Supplier", "Distributor"),
    "Reseller Agreement": ("Vendor", "Reseller"),
    "Manufacturing Agreement": ("Manufacturer", "Purchaser"),
    "Data Processing Addendum": ("Processor", "Controller"),
    "Creative Services Agreement": ("Agency", "Client"),
    "Software Development Agreement": ("Developer", "Client"),
}
SERVICES = ["Master Services Agreement", "Consulting Agreement",
            "Logistics Services Agreement", "Outsourcing Agreement"]
SOFTWARE = ["Software License Agreement", "SaaS Subscription Agreement"]
GOODS = ["Supply Agreement", "Distribution Agreement", "Reseller Agreement",
         "Manufacturing Agreement"]
GENERAL = SERVICES + SOFTWARE + GOODS

# --------------------------------------------------------------------------
# Values: one attribute rendered the lawyer's way and the business user's way
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A slot value: ``legal`` fills clause slots, one of ``plain`` fills queries."""

    key: str
    legal: dict[str, str]
    plain: tuple[str, ...]


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve "
         "thirteen fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """Spell out 0 <= n < 1000 the way contracts do ("one hundred twenty")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" {words(rest)}" if rest else "")


def spelled(n: int, unit: str) -> str:
    """``spelled(30, "day")`` -> "thirty (30) days"."""
    return f"{words(n)} ({n}) {unit}{'' if n == 1 else 's'}"


def count_phrase(n: int, unit: str) -> str:
    """Plain count: "a year", "2 years"."""
    return f"a {unit}" if n == 1 else f"{n} {unit}s"


def simple(legal: str, *plain: str, key: str | None = None) -> Value:
    return Value(key or legal, {"v": legal}, tuple(plain) or (legal,))


def days(n: int) -> Value:
    plain = [f"{n} days"]
    if n % 30 == 0:
        plain.append(count_phrase(n // 30, "month"))
    return simple(spelled(n, "day"), *plain, key=f"{n}d")


def months(n: int) -> Value:
    plain = [count_phrase(n, "month")]
    if n % 12 == 0:
        plain.append(count_phrase(n // 12, "year"))
    return simple(spelled(n, "month"), *plain, key=f"{n}m")


def years(n: int) -> Value:
    return simple(spelled(n, "year"), count_phrase(n, "year"), key=f"{n}y")


def hours(n: int) -> Value:
    return simple(spelled(n, "hour"), f"{n} hours", key=f"{n}h")


def business_days(n: int) -> Value:
    legal = f"{words(n)} ({n}) business day{'' if n == 1 else 's'}"
    return simple(legal, f"{n} working day{'' if n == 1 else 's'}", key=f"{n}bd")


_CURRENCY = {  # code -> (legal prefix, plain symbol, plain word)
    "USD": ("US$", "$", "dollars"),
    "EUR": ("EUR ", "€", "euros"),
    "GBP": ("£", "£", "pounds"),
}


def _short_amount(amount: int) -> str:
    if amount >= 1_000_000:
        return f"{amount / 1_000_000:g} million"
    if amount >= 10_000:
        return f"{amount // 1000}k"
    return f"{amount:,}"


def money(currency: str, amount: int) -> Value:
    prefix, symbol, word = _CURRENCY[currency]
    short = _short_amount(amount)
    return simple(f"{prefix}{amount:,}", f"{symbol}{short}", f"{short} {word}",
                  key=f"{currency}{amount}")


def percent_words(p: str) -> str:
    """ "1.5" -> "one and one-half percent (1.5%)"; "99.95" -> "ninety-nine point nine five ..." """
    whole, _, frac = p.partition(".")
    fractions = {"5": "and one-half", "25": "and one-quarter", "75": "and three-quarters"}
    if not frac:
        spoken = words(int(whole))
    elif whole == "0" and frac in fractions:
        spoken = fractions[frac].split(" ", 1)[1] + " of one"
    elif frac in fractions and int(whole) < 20:
        spoken = f"{words(int(whole))} {fractions[frac]}"
    else:
        spoken = f"{words(int(whole))} point " + " ".join(_ONES[int(d)] for d in frac)
    return f"{spoken} percent ({p}%)"


def percent(p: str) -> Value:
    return simple(percent_words(p), f"{p}%", f"{p} percent", key=f"{p}%")


def rate(p: str, per: str) -> Value:
    legal_per = {"month": "per month", "year": "per annum"}[per]
    return simple(f"{percent_words(p)} {legal_per}", f"{p}% a {per}", f"{p}% per {per}",
                  key=f"{p}%/{per}")


def money_pool(amounts: list[int]) -> list[Value]:
    return [money(cur, amt) for cur in _CURRENCY for amt in amounts]


PRODUCTS = [simple(legal, *plain) for legal, *plain in [
    ("industrial refrigeration units", "fridge units", "refrigeration units"),
    ("lithium-ion battery packs", "battery packs", "lithium batteries"),
    ("commercial LED lighting fixtures", "LED lights", "LED fittings"),
    ("centrifugal water pumps", "water pumps"),
    ("medical-grade nitrile gloves", "nitrile gloves", "medical gloves"),
    ("agricultural spraying drones", "crop-spraying drones", "farm drones"),
    ("point-of-sale terminals", "card machines", "till terminals"),
    ("solar power inverters", "solar inverters"),
    ("electric forklift trucks", "electric forklifts"),
    ("ergonomic office chairs", "office chairs"),
    ("single-serve coffee capsules", "coffee pods", "coffee capsules"),
    ("water filtration cartridges", "water filters"),
    ("IP security cameras", "security cameras", "CCTV cameras"),
    ("HVAC control panels", "heating and cooling controls", "HVAC panels"),
    ("folding electric scooters", "e-scooters", "electric scooters"),
    ("printed circuit board assemblies", "circuit boards", "PCBs"),
    ("dry pet food products", "pet food", "dog and cat food"),
    ("organic skincare products", "skincare products", "face creams"),
    ("ceramic automotive brake pads", "brake pads"),
    ("children's car seats", "kids' car seats", "child car seats"),
]]

SOFTWARE_PRODUCTS = [simple(legal, plain) for legal, plain in [
    ("the FleetTrack route optimisation platform", "FleetTrack"),
    ("the LedgerPoint accounting suite", "LedgerPoint"),
    ("the ShiftWise workforce scheduling software", "ShiftWise"),
    ("the ClaimFlow claims handling system", "ClaimFlow"),
    ("the StockSense inventory management system", "StockSense"),
    ("the PatientLink appointment portal", "PatientLink"),
    ("the TradeDesk order management system", "TradeDesk"),
    ("the GridView energy monitoring software", "GridView"),
    ("the Beacon customer loyalty platform", "Beacon"),
    ("the Atlas warehouse control system", "Atlas"),
    ("the PayRun payroll engine", "PayRun"),
    ("the DocuVault contract repository", "DocuVault"),
    ("the FieldPro mobile service application", "FieldPro"),
    ("the QuoteSmart pricing configurator", "QuoteSmart"),
    ("the TransitHub ticketing platform", "TransitHub"),
    ("the MediSync laboratory information system", "MediSync"),
    ("the CargoLens customs filing software", "CargoLens"),
]]

DELIVERABLES = [simple(legal, *plain) for legal, *plain in [
    ("the custom mobile banking application", "mobile banking app", "banking app"),
    ("the brand identity and logo designs", "logo and brand designs", "new logo"),
    ("the data migration scripts", "data migration scripts"),
    ("the demand forecasting machine-learning model", "forecasting model",
     "demand forecasting AI"),
    ("the staff training course materials", "training materials", "training course"),
    ("the warehouse layout and racking designs", "warehouse layout plans"),
    ("the e-commerce website and storefront", "online shop", "e-commerce site"),
    ("the customer research reports", "market research reports", "research reports"),
    ("the API integration middleware", "integration middleware", "API connectors"),
    ("the product packaging artwork", "packaging artwork", "packaging designs"),
    ("the technical user manuals", "user manuals"),
    ("the customer service chatbot scripts", "chatbot", "chatbot scripts"),
    ("the executive analytics dashboards", "dashboards", "management dashboards"),
    ("the product photography library", "product photos"),
    ("the CAD drawings for the conveyor system", "conveyor CAD drawings",
     "conveyor drawings"),
    ("the television advertising campaign", "TV ad campaign", "TV adverts"),
]]

TERRITORIES = [simple(legal, *plain) for legal, *plain in [
    ("the Nordic Region, being Denmark, Finland, Iceland, Norway and Sweden",
     "the Nordics", "Scandinavia"),
    ("Belgium, the Netherlands and Luxembourg", "Benelux", "the Low Countries"),
    ("Germany, Austria and Switzerland", "the DACH region", "German-speaking Europe"),
    ("Spain and Portugal", "Iberia", "Spain and Portugal"),
    ("Canada", "Canada"),
    ("the United Mexican States", "Mexico"),
    ("the member states of the Gulf Cooperation Council", "the Gulf", "the Gulf states"),
    ("Australia and New Zealand", "Australia and NZ", "ANZ"),
    ("the United Kingdom and the Republic of Ireland", "the UK and Ireland"),
    ("the Federative Republic of Brazil", "Brazil"),
    ("Japan", "Japan"),
    ("the Republic of Korea", "South Korea", "Korea"),
    ("the Member States of ASEAN", "Southeast Asia"),
    ("Poland, Lithuania, Latvia and Estonia", "Poland and the Baltics"),
    ("the Italian Republic", "Italy"),
    ("the Republic of South Africa", "South Africa"),
]]

JURISDICTIONS = [Value(plain[0], {"law": law, "courts": courts}, tuple(plain))
                 for law, courts, *plain in [
    ("the State of New York",
     "the state and federal courts located in the Borough of Manhattan, New York",
     "New York", "Manhattan"),
    ("the State of Delaware", "the state and federal courts located in Wilmington, Delaware",
     "Delaware"),
    ("England and Wales", "the courts of England and Wales sitting in London",
     "London", "England"),
    ("the State of California",
     "the state and federal courts located in San Francisco County, California",
     "California", "San Francisco"),
    ("the Province of Ontario", "the courts of the Province of Ontario sitting in Toronto",
     "Ontario", "Toronto"),
    ("the Republic of Singapore", "the courts of the Republic of Singapore", "Singapore"),
    ("the State of Texas", "the state and federal courts located in Harris County, Texas",
     "Texas", "Houston"),
    ("Ireland", "the courts of Ireland sitting in Dublin", "Ireland", "Dublin"),
    ("the Federal Republic of Germany", "the courts of Frankfurt am Main", "Germany",
     "Frankfurt"),
    ("the Netherlands", "the competent court of Amsterdam", "the Netherlands",
     "Amsterdam"),
    ("Switzerland", "the ordinary courts of the City of Zurich", "Switzerland", "Zurich"),
    ("the State of Illinois", "the state and federal courts located in Cook County, Illinois",
     "Illinois", "Chicago"),
    ("New South Wales, Australia", "the courts of New South Wales sitting in Sydney",
     "Sydney", "Australia"),
    ("Scotland", "the Court of Session in Edinburgh", "Scotland", "Edinburgh"),
    ("the State of Washington", "the state and federal courts located in King County, Washington",
     "Washington State", "Seattle"),
    ("the Hong Kong Special Administrative Region",
     "the courts of the Hong Kong Special Administrative Region", "Hong Kong"),
]]

ADDRESSES = [simple(legal, plain) for legal, plain in [
    ("Attn: General Counsel, 22 Westerkade, 3016 CM Rotterdam, the Netherlands", "Rotterdam"),
    ("Attn: Company Secretary, 5 Wellington Place, Leeds LS1 4AP, United Kingdom", "Leeds"),
    ("Attn: Legal Department, 600 Congress Avenue, Suite 1400, Austin, Texas 78701", "Austin"),
    ("Attn: Direction Juridique, 14 Quai Perrache, 69002 Lyon, France", "Lyon"),
    ("Attn: Head of Legal, Level 12, 360 Collins Street, Melbourne VIC 3000, Australia",
     "Melbourne"),
    ("Attn: Chief Legal Officer, 1801 Wynkoop Street, Denver, Colorado 80202", "Denver"),
    ("Attn: General Counsel, 3 Hardman Street, Manchester M3 3HF, United Kingdom",
     "Manchester"),
    ("Attn: Legal Department, Grosse Elbstrasse 145, 22767 Hamburg, Germany", "Hamburg"),
    ("Attn: Legal Counsel, 200 Bay Street, Toronto, Ontario M5J 2J2, Canada", "Toronto"),
    ("Attn: Company Secretary, 2 Grand Canal Square, Dublin 2, Ireland", "Dublin"),
    ("Attn: Ufficio Legale, Via Tortona 37, 20144 Milan, Italy", "Milan"),
    ("Attn: Legal Affairs, 1-8-3 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan", "Tokyo"),
    ("Attn: General Counsel, 10 Dock Road, V&A Waterfront, Cape Town 8001, South Africa",
     "Cape Town"),
    ("Attn: Legal Department, 1055 West Georgia Street, Vancouver, BC V6E 3P3, Canada",
     "Vancouver"),
    ("Attn: Contracts Manager, 2 North Central Avenue, Phoenix, Arizona 85004", "Phoenix"),
    ("Attn: General Counsel, 88 Market Street, #20-01, Singapore 048948", "Singapore"),
]]

# Secondary slots: drawn at random per clause, never mentioned by queries.
XREF = [f"{a}.{b}" for a in (9, 10, 11, 12, 14, 15, 16) for b in (1, 2, 3, 4)]
ESCROW_AGENTS = ["Iron Vault Escrow Services Ltd.", "Keystone Software Escrow, Inc.",
                 "CodeSafe Trust Limited", "Bastion Technology Escrow LLC"]
BUSINESSES = ["specialty coffee retail", "last-mile parcel delivery", "contract catering",
              "industrial cleaning", "veterinary supplies", "commercial laundry",
              "craft brewing", "residential solar installation"]
REGIONS = ["the United Kingdom", "the European Union", "North America",
           "any country in which Customer operates", "the States of New York and New Jersey"]
RESPONSE_TIMES = [spelled(1, "hour"), spelled(2, "hour"), spelled(4, "hour"),
                  "thirty (30) minutes", "fifteen (15) minutes"]

# --------------------------------------------------------------------------
# Topics: the hand-written clause and query templates
# --------------------------------------------------------------------------
# Clause slots: {party} full name, {sup} counterparty's defined term, {cus} ours,
# {v} (or the keys of Value.legal) the key value, plus the topic's extras.
# Query slots: {p} short party name, {v} plain key value.


@dataclass
class Topic:
    name: str
    agreements: list[str]
    clauses: list[str]
    # mode -> templates; "party" uses {p}, "value" uses {v}, "both" uses both.
    queries: dict[str, list[str]]
    # Key legal terms of the topic that queries must not contain (lower-case stems).
    banned: list[str]
    values: list[Value] | None = None
    extras: dict[str, list[str]] = field(default_factory=dict)


TOPICS: list[Topic] = [
    Topic(
        name="indemnification",
        agreements=GOODS,
        values=PRODUCTS,
        extras={"xref": XREF},
        banned=["indemn", "hold harmless", "defend", "defence", "defense", "liabil"],
        clauses=[
            "{sup} shall indemnify, defend and hold harmless {cus} and its Affiliates, "
            "officers, directors and employees from and against any and all claims, losses, "
            "damages, liabilities, costs and expenses (including reasonable attorneys' fees) "
            "arising out of any third-party claim alleging that the {v} supplied hereunder "
            "caused bodily injury, death or damage to tangible property, except to the extent "
            "caused by the gross negligence or wilful misconduct of {cus}.",
            "Subject to Section {xref}, {sup} shall indemnify and keep indemnified {cus} "
            "against all Losses incurred by {cus} in connection with any product liability "
            "claim brought by a third party in respect of the {v}, provided that {cus} "
            "(i) gives {sup} prompt written notice of such claim, (ii) permits {sup} to assume "
            "sole control of the defence and settlement thereof, and (iii) provides reasonable "
            "cooperation at {sup}'s expense.",
            "{party} (“{sup}”) shall, at its own cost, defend any action, suit or proceeding "
            "brought against {cus} by a third party to the extent based on a defect in the "
            "design, manufacture or labelling of the {v}, and shall pay all damages, "
            "settlements and costs finally awarded against {cus} in respect thereof. The "
            "foregoing obligations shall survive the expiry or termination of this Agreement.",
        ],
        queries={
            "party": [
                "who pays if a customer sues us over something {p} made?",
                "if someone gets hurt by {p}'s goods and takes us to court, are we covered?",
                "does {p} have to step in when an outsider sues us because of their product?",
            ],
            "value": [
                "which supplier picks up the bill if we get sued over the {v}?",
                "an end user claims the {v} injured them, whose problem is that?",
            ],
            "both": [
                "are we protected by {p} if a buyer takes us to court about the {v}?",
                "lawsuit over {p}'s {v}: who pays our legal costs?",
            ],
        },
    ),
    Topic(
        name="termination for convenience",
        agreements=GENERAL,
        values=[days(n) for n in (14, 15, 20, 21, 28, 30, 35, 40, 45, 60, 75, 90, 100,
                                  120, 150, 180)],
        banned=["terminat", "convenience", "without cause"],
        clauses=[
            "{cus} may terminate this Agreement, in whole or in part, for convenience at any "
            "time upon {v}' prior written notice to {sup}. In the event of such termination, "
            "{cus} shall pay {sup} all undisputed fees for work properly performed up to the "
            "effective date of termination, and {sup} shall promptly deliver to {cus} all work "
            "in progress. No termination fee or other penalty shall be payable.",
            "Without prejudice to any other right or remedy, {cus} shall be entitled to "
            "terminate this Agreement without cause by giving not less than {v}' written notice "
            "to {sup}. Upon receipt of such notice {sup} shall take all reasonable steps to "
            "mitigate its costs and shall not be entitled to any compensation for loss of "
            "anticipated profits or unrecovered investment.",
            "Either Party may terminate this Agreement for any reason or no reason upon {v}' "
            "written notice to the other Party; provided, however, that no such notice may be "
            "given prior to the first anniversary of the Effective Date. Termination under "
            "this Section shall not relieve {cus} of its obligation to pay all fees accrued "
            "prior to the termination date.",
        ],
        queries={
            "party": [
                "can we walk away from the {p} deal early without giving a reason?",
                "is there a way to get out of our {p} contract before it ends if we "
                "change our mind?",
                "how do we exit the {p} arrangement early without paying a penalty?",
            ],
            "value": [
                "which contract lets us leave with {v} warning for no particular reason?",
                "we want to quit a deal with {v} heads-up, which one allows that?",
            ],
            "both": [
                "can we pull out of {p} with {v} warning even if they did nothing wrong?",
                "does {p} let us leave early if we just give them {v} heads-up?",
            ],
        },
    ),
    Topic(
        name="limitation of liability",
        agreements=GENERAL,
        values=money_pool([250_000, 500_000, 750_000, 1_000_000, 1_500_000, 2_000_000,
                           2_500_000, 5_000_000, 10_000_000]),
        extras={"xref": XREF},
        banned=["liabil", "limitation", "aggregate", "consequential", "exceed"],
        clauses=[
            "IN NO EVENT SHALL EITHER PARTY'S AGGREGATE LIABILITY ARISING OUT OF OR RELATED TO "
            "THIS AGREEMENT, WHETHER IN CONTRACT, TORT (INCLUDING NEGLIGENCE) OR OTHERWISE, "
            "EXCEED {v}. THE FOREGOING LIMITATION SHALL NOT APPLY TO A PARTY'S "
            "INDEMNIFICATION OBLIGATIONS, BREACH OF CONFIDENTIALITY, OR LIABILITY FOR GROSS "
            "NEGLIGENCE, FRAUD OR WILFUL MISCONDUCT.",
            "Subject to Clause {xref}, the total liability of {sup} to {cus}, whether in "
            "contract, tort (including negligence), breach of statutory duty or otherwise, "
            "arising under or in connection with this Agreement shall be limited to {v} in "
            "aggregate. Neither Party shall be liable for any indirect, special or "
            "consequential loss, or for any loss of profits, revenue or goodwill.",
            "{sup}'s maximum cumulative liability for all claims arising under this Agreement "
            "shall not exceed the greater of (a) {v} and (b) the total fees paid by {cus} in "
            "the twelve (12) months immediately preceding the event giving rise to the claim. "
            "The Parties acknowledge that the fees reflect this allocation of risk and that "
            "the limitation is an essential basis of the bargain.",
        ],
        queries={
            "party": [
                "what's the most we could ever get back from {p} if things go badly wrong?",
                "is there a ceiling on how much {p} would ever have to pay us?",
                "how much money can we actually recover from {p} if they mess up?",
            ],
            "value": [
                "which contract caps what the other side pays out at {v}?",
                "whose deal says they'll never pay us more than {v} in total?",
            ],
            "both": [
                "is {p} only on the hook for up to {v}?",
                "does our deal with {p} max out their payout at {v}?",
            ],
        },
    ),
    Topic(
        name="confidentiality",
        agreements=GENERAL,
        values=[years(n) for n in range(1, 11)] + [months(n) for n in (18, 30, 42)]
        + [years(15)],
        banned=["confiden", "disclos", "proprietary"],
        clauses=[
            "Each Party (the “Receiving Party”) shall hold all Confidential Information of the "
            "other Party (the “Disclosing Party”) in strict confidence, shall not disclose it "
            "to any third party except to its employees and advisers who have a need to know "
            "and are bound by obligations no less protective, and shall use it solely for the "
            "purposes of this Agreement. These obligations shall continue for {v} after "
            "termination of this Agreement.",
            "{sup} shall treat as confidential all information, data, pricing, customer lists "
            "and know-how disclosed by or on behalf of {cus}, whether before or after the "
            "Effective Date, and shall not use such Confidential Information for any purpose "
            "other than performing its obligations hereunder. The obligations in this Clause "
            "shall survive for a period of {v} following expiry or termination.",
            "Confidential Information shall not include information that (i) is or becomes "
            "publicly available through no fault of the Receiving Party, (ii) was lawfully "
            "known to the Receiving Party prior to disclosure, or (iii) is independently "
            "developed without use of the Disclosing Party's information. Subject to the "
            "foregoing, the duty of non-disclosure hereunder shall remain in force for {v} "
            "from the date of each disclosure.",
        ],
        queries={
            "party": [
                "how long does {p} have to keep our pricing and plans to themselves?",
                "can {p} tell anyone else about the business info we share with them?",
                "is {p} allowed to pass our customer lists on to other people?",
            ],
            "value": [
                "which partner has to keep our secrets for {v} after the deal ends?",
                "whose duty to keep quiet about our business runs {v} past the end?",
            ],
            "both": [
                "does {p} really have to keep quiet about our plans for {v}?",
                "{p} keeping our business info private: is it {v} after we part ways?",
            ],
        },
    ),
    Topic(
        name="force majeure",
        agreements=GENERAL,
        values=[days(n) for n in (10, 14, 20, 21, 30, 45, 60, 75, 90, 120, 150, 180)]
        + [months(n) for n in (7, 9)],
        banned=["majeure", "force", "reasonable control"],
        clauses=[
            "Neither Party shall be liable for any failure or delay in performance under this "
            "Agreement (other than payment obligations) to the extent caused by a Force "
            "Majeure Event, including acts of God, flood, fire, earthquake, epidemic, war, "
            "terrorism, riot, embargo or governmental action. If a Force Majeure Event "
            "continues for more than {v}, either Party may terminate this Agreement upon "
            "written notice to the other.",
            "A Party affected by an event beyond its reasonable control shall promptly notify "
            "the other Party, use commercially reasonable efforts to mitigate the effects, and "
            "resume performance as soon as practicable. Where {sup}'s performance is prevented "
            "for a continuous period exceeding {v}, {cus} may procure substitute goods or "
            "services from a third party and may cancel the affected orders without liability.",
            "{sup} shall not be deemed in breach to the extent its performance is hindered by "
            "force majeure, provided that strikes or labour disputes involving {sup}'s own "
            "workforce, and failures of {sup}'s subcontractors, shall not constitute force "
            "majeure. Should the suspension of performance exceed {v} in aggregate in any "
            "twelve-month period, {cus} shall be entitled to cancel this Agreement forthwith.",
        ],
        queries={
            "party": [
                "what happens if a flood or a war stops {p} from delivering?",
                "is {p} excused if a pandemic shuts down their operations?",
                "if an earthquake knocks {p} out, how long must we wait before we can leave?",
            ],
            "value": [
                "which deal lets us bail if a natural disaster halts things for over {v}?",
                "where can we cancel once a storm or war drags on beyond {v}?",
            ],
            "both": [
                "if a disaster stalls {p} for over {v}, can we get out?",
                "{p} hit by a catastrophe: can we cancel once it passes {v}?",
            ],
        },
    ),
    Topic(
        name="governing law and jurisdiction",
        agreements=GENERAL,
        values=JURISDICTIONS,
        banned=["govern", "jurisdiction", "venue", "construed", "exclusive"],
        clauses=[
            "This Agreement and any dispute or claim arising out of or in connection with it or "
            "its subject matter shall be governed by and construed in accordance with the laws "
            "of {law}, without regard to its conflict of laws principles. Each Party "
            "irrevocably submits to the exclusive jurisdiction of {courts} to settle any such "
            "dispute or claim.",
            "The validity, interpretation and performance of this Agreement shall be governed "
            "by the laws of {law}. The United Nations Convention on Contracts for the "
            "International Sale of Goods shall not apply. Any action or proceeding arising "
            "hereunder shall be brought exclusively in {courts}, and each Party waives any "
            "objection to venue therein.",
            "This Agreement is governed by the laws of {law}. {sup} and {cus} agree that "
            "{courts} shall have exclusive jurisdiction over any dispute arising out of this "
            "Agreement, save that either Party may seek injunctive or other equitable relief in "
            "any court of competent jurisdiction to protect its intellectual property.",
        ],
        queries={
            "party": [
                "if things turn nasty with {p}, where does the fight happen?",
                "whose rulebook decides a falling-out with {p}?",
                "where would we have to sue {p} if it came to that?",
            ],
            "value": [
                "which of our contracts would be fought out in {v}?",
                "which deals send any courtroom battle to {v}?",
            ],
            "both": [
                "would a falling-out with {p} be settled in {v}?",
                "do we have to fly to {v} to sue {p}?",
            ],
        },
    ),
    Topic(
        name="non-solicitation",
        agreements=SERVICES + SOFTWARE,
        values=[months(n) for n in (3, 6, 9, 12, 15, 18, 24, 30, 36)],
        banned=["solicit", "induce", "entice"],
        clauses=[
            "During the Term and for a period of {v} thereafter, neither Party shall, directly "
            "or indirectly, solicit, induce or attempt to induce any employee or individual "
            "contractor of the other Party who was engaged in the performance of this "
            "Agreement to terminate his or her engagement. General advertisements not targeted "
            "at such personnel shall not constitute solicitation for the purposes of this "
            "Section.",
            "{sup} agrees that it shall not, without the prior written consent of {cus}, "
            "employ, engage or solicit for employment any person employed by {cus} with whom "
            "{sup} had material contact in connection with this Agreement, at any time during "
            "the Term and for {v} after its expiry. In the event of breach, {sup} shall pay "
            "{cus} a placement fee equal to that person's annual base salary.",
            "Each Party covenants that, for {v} following the termination of this Agreement, it "
            "shall not knowingly entice away or offer employment to any key personnel of the "
            "other Party, save where such individual responds independently to a public job "
            "posting or has ceased to be employed by the other Party for at least six (6) "
            "months.",
        ],
        queries={
            "party": [
                "can {p} try to hire our people away from us?",
                "what stops {p} from poaching our best engineers?",
                "are we allowed to offer a job to someone on {p}'s team?",
            ],
            "value": [
                "which partner can't poach our staff for {v} after we stop working together?",
                "whose contract bans luring away each other's people for {v}?",
            ],
            "both": [
                "is {p} barred from luring our staff away for {v}?",
                "can we recruit {p} employees now or do we have to wait {v}?",
            ],
        },
    ),
    Topic(
        name="automatic renewal",
        agreements=SERVICES + SOFTWARE,
        values=[days(n) for n in (15, 20, 30, 45, 60, 75, 90, 100, 120, 180)]
        + [months(n) for n in (5, 8, 9)],
        extras={"period": [spelled(1, "year"), spelled(12, "month"), spelled(2, "year"),
                           spelled(3, "year")],
                "initial": [spelled(2, "year"), spelled(3, "year"), spelled(5, "year"),
                            spelled(36, "month")]},
        banned=["renew", "evergreen", "automatic", "successive", "consecutive"],
        clauses=[
            "Upon expiry of the Initial Term, this Agreement shall automatically renew for "
            "successive renewal periods of {period} each (each a “Renewal Term”) unless either "
            "Party gives written notice of non-renewal to the other Party at least {v} prior to "
            "the end of the then-current term. The terms of this Agreement shall apply to each "
            "Renewal Term, save that {sup} may adjust its fees in accordance with Schedule 2.",
            "This Agreement shall commence on the Effective Date and continue for an initial "
            "period of {initial}, and thereafter shall continue on an evergreen basis for "
            "consecutive periods of {period} until terminated by either Party by written "
            "notice served not less than {v} before the next anniversary of the Effective Date.",
            "The term of this Agreement shall renew automatically at the end of each term for a "
            "further {period}, at {sup}'s then-current list prices, unless {cus} notifies {sup} "
            "in writing of its election not to renew no later than {v} prior to the renewal "
            "date. {sup} shall send {cus} a written reminder of the upcoming renewal date in "
            "advance of such deadline.",
        ],
        queries={
            "party": [
                "does the {p} contract just roll over by itself every year?",
                "what's the last day we can tell {p} we don't want to keep going?",
                "will {p} keep billing us forever unless we speak up?",
            ],
            "value": [
                "which contract rolls over unless we say no {v} before the end?",
                "which vendor needs {v} warning if we don't want to continue next year?",
            ],
            "both": [
                "do we need to tell {p} {v} ahead if we don't want another year?",
                "the {p} deal rolls over on its own; is the opt-out deadline {v} before?",
            ],
        },
    ),
    Topic(
        name="late payment interest",
        agreements=GENERAL,
        values=[rate(p, "month") for p in ("0.5", "0.75", "1", "1.25", "1.5", "2")]
        + [rate(p, "year") for p in ("4", "5", "6", "8", "10", "12", "15", "18")],
        extras={"terms": [spelled(n, "day") for n in (30, 45, 60)]},
        banned=["interest", "accru", "overdue", "per annum", "compound"],
        clauses=[
            "Any amount not paid when due shall bear interest from the due date until the date "
            "of actual payment at the rate of {v}, or the maximum rate permitted by applicable "
            "law, whichever is lower, calculated on a daily basis. {sup} may additionally "
            "suspend performance of its obligations if any undisputed invoice remains unpaid "
            "for more than thirty (30) days after written notice to {cus}.",
            "{cus} shall pay each undisputed invoice within {terms} of receipt. Overdue sums "
            "shall accrue interest at {v}, compounded monthly, and {cus} shall reimburse {sup} "
            "for all reasonable costs of collection, including legal fees. Interest shall not "
            "be payable on amounts disputed in good faith and notified to {sup} before the due "
            "date.",
            "If {cus} fails to make any payment due to {sup} under this Agreement by the due "
            "date, then, without limiting {sup}'s remedies, {cus} shall pay interest on the "
            "overdue amount at the rate of {v}. Such interest shall accrue on a daily basis "
            "from the due date until actual payment of the overdue amount, whether before or "
            "after judgment.",
        ],
        queries={
            "party": [
                "what extra do we owe {p} if we pay their invoices late?",
                "is there a charge when we're slow paying {p}'s bills?",
                "does {p} add something on top of bills we settle after the deadline?",
            ],
            "value": [
                "which supplier charges {v} when we pay a bill late?",
                "who adds {v} on top of bills left unpaid past the due date?",
            ],
            "both": [
                "does {p} really charge {v} on late bills?",
                "paying {p} late: is it {v} on top?",
            ],
        },
    ),
    Topic(
        name="audit rights",
        agreements=GENERAL,
        values=[percent(p) for p in ("1", "2", "2.5", "3", "4", "5", "6", "7.5", "8", "10")],
        extras={"years": [spelled(n, "year") for n in (3, 5, 6, 7)]},
        banned=["audit", "inspect", "records", "books", "examin"],
        clauses=[
            "{sup} shall maintain complete and accurate books and records relating to the fees "
            "charged under this Agreement for at least {years} after final payment. {cus}, or "
            "an independent auditor appointed by it, may audit such records on reasonable "
            "notice, not more than once per calendar year. If any audit reveals an overcharge "
            "exceeding {v} of the amounts invoiced for the audited period, {sup} shall "
            "reimburse the reasonable costs of the audit.",
            "Upon reasonable prior notice and during normal business hours, {cus} shall have "
            "the right to inspect and audit {sup}'s facilities, systems and records to verify "
            "compliance with this Agreement. {sup} shall promptly refund any overpayment "
            "identified, and where such overpayment exceeds {v} of the fees properly payable, "
            "{sup} shall bear the full cost of the audit.",
            "{cus} may, at its own expense and no more than twice in any twelve-month period, "
            "appoint a nationally recognised accounting firm to examine the books of account of "
            "{sup} relating to this Agreement. Should the examination disclose that {sup} has "
            "overcharged {cus} by more than {v}, {sup} shall pay the costs of the examination "
            "and refund the overcharge within fifteen (15) days.",
        ],
        queries={
            "party": [
                "can we send someone in to check {p}'s numbers?",
                "are we allowed to look through {p}'s accounts to be sure they bill us right?",
                "can we get an accountant to go over what {p} has charged us?",
            ],
            "value": [
                "which vendor pays for the check if they overbilled us by more than {v}?",
                "who covers the accountant's fees when the overbilling tops {v}?",
            ],
            "both": [
                "if we find {p} overbilled us by over {v}, who pays for the review?",
                "does {p} foot the cost of the review once overbilling passes {v}?",
            ],
        },
    ),
    Topic(
        name="assignment and change of control",
        agreements=GENERAL,
        extras={"days": [spelled(n, "day") for n in (5, 10, 15, 30)],
                "pct": [percent_words(p) for p in ("25", "30", "50")]},
        banned=["assign", "change of control", "transfer", "successor", "novat"],
        clauses=[
            "Neither Party may assign, transfer or novate this Agreement with {party} or any of "
            "its rights or obligations hereunder without the prior written consent of the other "
            "Party, such consent not to be unreasonably withheld; provided that {cus} may "
            "assign this Agreement without consent to any Affiliate or to a successor in "
            "connection with a merger or sale of all or substantially all of its assets.",
            "{party} (“{sup}”) shall notify {cus} in writing within {days} of any Change of "
            "Control of {sup}. For the purposes of this Clause, a “Change of Control” occurs "
            "where any person acquires, directly or indirectly, more than {pct} of the voting "
            "shares of {sup}. Following such notice, {cus} may terminate this Agreement with "
            "immediate effect by written notice.",
            "Any purported assignment of this Agreement by {party} in violation of this Section "
            "shall be null and void. A merger, consolidation, reorganisation or acquisition of "
            "a controlling interest in {sup} shall be deemed an assignment for the purposes of "
            "this Section and shall require the prior written consent of {cus}. This Agreement "
            "shall bind and benefit the Parties and their permitted successors and assigns.",
        ],
        queries={
            "party": [
                "what happens to our contract if {p} gets bought out?",
                "can {p} hand our deal over to another company without asking us?",
                "if a competitor takes over {p}, can we get out?",
                "can {p} pass the contract on to someone else if they sell the business?",
            ],
        },
    ),
    Topic(
        name="warranty period",
        agreements=GOODS,
        values=[months(n) for n in (6, 9, 12, 15, 18, 24, 30, 36, 48, 60)] + [days(90)],
        extras={"product": [p.legal["v"] for p in PRODUCTS]},
        banned=["warrant", "defect", "conform", "workmanship"],
        clauses=[
            "{sup} warrants that the {product} shall, for a period of {v} from the date of "
            "delivery (the “Warranty Period”), be free from defects in materials and "
            "workmanship and conform to the Specifications. {sup}'s sole obligation for breach "
            "of this warranty shall be, at its option, to repair or replace the non-conforming "
            "item or to refund the purchase price paid for it.",
            "{sup} represents and warrants that the {product} will perform materially in "
            "accordance with the Specifications for {v} following acceptance by {cus}. If {cus} "
            "notifies {sup} of any non-conformity during such period, {sup} shall correct the "
            "non-conformity at no additional charge within a reasonable time, failing which "
            "{cus} may reject the affected items.",
            "All goods supplied under this Agreement, including the {product}, are warranted "
            "against defective design, materials and workmanship for {v} from installation. "
            "Defective items shall be returned to {sup} at {sup}'s risk and cost, and the "
            "warranty on any repaired or replacement item shall run for the unexpired portion "
            "of the original warranty period.",
        ],
        queries={
            "party": [
                "how long after delivery will {p} fix things that break for free?",
                "if something {p} sold us stops working, how long are we covered?",
                "for how long does {p} stand behind the quality of their goods?",
            ],
            "value": [
                "which supplier repairs broken items for free for {v}?",
                "whose products get fixed for nothing if they fail within {v}?",
            ],
            "both": [
                "does {p} fix faulty kit for free for {v} after delivery?",
                "is {p}'s free repair window really {v}?",
            ],
        },
    ),
    Topic(
        name="data protection",
        agreements=["Data Processing Addendum", "SaaS Subscription Agreement",
                    "Master Services Agreement", "Outsourcing Agreement"],
        values=[hours(n) for n in (4, 6, 8, 12, 24, 36, 48, 72)]
        + [business_days(n) for n in (1, 2, 3, 5)],
        banned=["personal data", "data protection", "processor", "controller", "gdpr",
                "process", "breach"],
        clauses=[
            "{sup} shall process Personal Data only on the documented instructions of {cus} "
            "and in compliance with all applicable Data Protection Laws, including the GDPR. "
            "{sup} shall implement appropriate technical and organisational measures to "
            "protect Personal Data and shall notify {cus} without undue delay, and in any event "
            "within {v}, after becoming aware of a Personal Data Breach.",
            "In the event of any actual or reasonably suspected unauthorised access to, or "
            "loss, alteration or disclosure of, Customer Personal Data, {sup} shall notify "
            "{cus} in writing within {v} of discovery, provide all information reasonably "
            "required for {cus} to meet its notification obligations to supervisory "
            "authorities and data subjects, and take all reasonable steps to contain and "
            "remediate the incident.",
            "{sup} shall not engage any sub-processor or transfer Personal Data outside the "
            "European Economic Area without the prior written authorisation of {cus}. {sup} "
            "shall ensure that persons authorised to process the Personal Data are bound by "
            "obligations of confidentiality, and shall report any security incident affecting "
            "such data to {cus} within {v}.",
        ],
        queries={
            "party": [
                "what does {p} have to do with our customers' info if they get hacked?",
                "how fast must {p} warn us if someone steals our customer details?",
                "can {p} send our customers' details to other countries?",
            ],
            "value": [
                "which vendor has to tell us about a hack within {v}?",
                "who must warn us within {v} if customer details leak?",
            ],
            "both": [
                "does {p} have to tell us within {v} if our customer info leaks?",
                "if {p} gets hacked, do we hear about it within {v}?",
            ],
        },
    ),
    Topic(
        name="intellectual property in deliverables",
        agreements=["Master Services Agreement", "Consulting Agreement",
                    "Creative Services Agreement", "Software Development Agreement"],
        values=DELIVERABLES,
        banned=["intellectual", "vest", "assign", "deliverable", "work product", "copyright",
                "title", "licen", "made for hire"],
        clauses=[
            "All Intellectual Property Rights in {v} and any other Deliverables created by "
            "{sup} specifically for {cus} under this Agreement shall vest in {cus} upon "
            "creation. {sup} hereby assigns to {cus} absolutely, with full title guarantee, all "
            "such rights, and shall procure that its personnel waive all moral rights therein.",
            "{sup} retains all right, title and interest in its Background IP. Subject to "
            "payment in full, all Foreground IP, including without limitation all rights in "
            "{v}, shall be owned exclusively by {cus}, and {sup} grants {cus} a perpetual, "
            "royalty-free, non-exclusive licence to use any Background IP incorporated therein.",
            "The Parties agree that {v}, together with all drafts, source materials and "
            "documentation relating thereto, constitute works made for hire and are the sole "
            "property of {cus}. To the extent any such work does not qualify as a work made for "
            "hire, {sup} irrevocably assigns to {cus} all copyright and other proprietary "
            "rights therein.",
        ],
        queries={
            "party": [
                "who owns the stuff {p} builds for us?",
                "once we pay {p}, is what they made for us ours to keep?",
                "can {p} reuse the work they did for us with other clients?",
            ],
            "value": [
                "who actually owns the {v} we paid to have made?",
                "who ends up owning the {v}: us or the firm that made them?",
            ],
            "both": [
                "do we own the {v} that {p} made for us?",
                "can {p} reuse the {v} they created for us elsewhere?",
            ],
        },
    ),
    Topic(
        name="insurance",
        agreements=GENERAL,
        values=money_pool([1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
                           20_000_000]),
        extras={"years": [spelled(n, "year") for n in (1, 2, 3, 6)]},
        banned=["insur", "policy", "policies", "underwrit", "liabil", "indemn"],
        clauses=[
            "{sup} shall, at its own cost, procure and maintain throughout the Term and for "
            "{years} thereafter, with reputable insurers, commercial general liability "
            "insurance with limits of not less than {v} per occurrence, together with "
            "professional indemnity and employer's liability insurance as required by law. "
            "{sup} shall provide certificates of insurance to {cus} upon request.",
            "{sup} shall maintain in force product liability insurance in an amount of not "
            "less than {v} for any one claim and in the aggregate per policy year, naming {cus} "
            "as an additional insured. {sup} shall give {cus} not less than thirty (30) days' "
            "prior written notice of any cancellation or material change to such cover.",
            "Without limiting its obligations under this Agreement, {sup} shall carry cyber "
            "liability and technology errors and omissions insurance with a minimum limit of "
            "{v} per claim. Such policies shall be primary and non-contributory to any "
            "insurance maintained by {cus}, and {sup} shall procure that its insurers waive all "
            "rights of subrogation against {cus}.",
        ],
        queries={
            "party": [
                "how much protection does {p} need to carry in case they get sued?",
                "does {p} have to show us proof they could pay out a big claim?",
                "what minimum cover does {p} have to keep in place?",
            ],
            "value": [
                "which vendor must keep at least {v} of cover in place?",
                "who is required to carry {v} of protection against claims?",
            ],
            "both": [
                "is {p} required to have {v} of cover?",
                "does {p} need {v} of protection against claims in place?",
            ],
        },
    ),
    Topic(
        name="most favoured customer pricing",
        agreements=GOODS,
        values=PRODUCTS,
        extras={"days": [spelled(n, "day") for n in (10, 15, 30)]},
        banned=["favo", "mfn", "preferential"],
        clauses=[
            "{sup} represents that the prices charged to {cus} for the {v} are, and shall "
            "remain throughout the Term, no less favourable than the prices charged by {sup} to "
            "any other customer purchasing comparable volumes on substantially similar terms. "
            "Should {sup} offer more favourable pricing to any such customer, {sup} shall "
            "promptly extend such pricing to {cus} with effect from the date first offered.",
            "If at any time during the Term {sup} sells the {v} to any third party at a net "
            "price lower than that payable by {cus} hereunder, {sup} shall notify {cus} within "
            "{days} and the price payable by {cus} shall be reduced accordingly, and {sup} "
            "shall credit {cus} with the difference for all units purchased since such lower "
            "price was first offered.",
            "Most Favoured Customer. {sup} shall ensure that the pricing, discounts, rebates "
            "and payment terms applicable to the {v} are at least as favourable as those granted "
            "to any similarly situated customer. Upon request, but not more than once per "
            "Contract Year, an officer of {sup} shall certify compliance with this Section in "
            "writing.",
        ],
        queries={
            "party": [
                "is anyone getting a better deal from {p} than we are?",
                "if {p} cuts someone else a sweeter deal, does it carry over to us?",
                "could {p} be giving our competitors a bigger discount than us?",
            ],
            "value": [
                "are we guaranteed never to overpay for the {v} compared with others?",
                "someone else got the {v} for less; do we get money back?",
            ],
            "both": [
                "does {p} have to give us its best rate on the {v}?",
                "if {p} sells {v} to others for less, do we get the difference?",
            ],
        },
    ),
    Topic(
        name="exclusivity",
        agreements=["Distribution Agreement", "Reseller Agreement"],
        values=TERRITORIES,
        banned=["exclusiv", "sole ", "territory"],
        clauses=[
            "Subject to the terms of this Agreement, {sup} hereby appoints {cus} on an "
            "exclusive basis to market and resell the Products in {v} (the “Territory”) during "
            "the Term, and {sup} shall not, directly or indirectly, appoint any other "
            "distributor, agent or reseller in the Territory or sell the Products to customers "
            "located therein.",
            "During the Term, {sup} shall not supply, and shall procure that its Affiliates do "
            "not supply, the Products or any substantially similar products to any third party "
            "for resale in {v}. The foregoing exclusivity is conditional upon {cus} achieving "
            "the Minimum Purchase Commitment set out in Schedule 3 for each Contract Year.",
            "{cus} shall be {sup}'s sole and exclusive reseller of the Products in {v}. {sup} "
            "shall refer to {cus} all enquiries received from prospective customers within such "
            "region, and shall not compete with {cus} for such customers, save for sales to "
            "the global accounts listed in Schedule 2.",
        ],
        queries={
            "party": [
                "is anybody else allowed to carry {p}'s range on our patch?",
                "can {p} bring in a second partner next to us?",
                "could {p} cut us out and go direct to the people we serve?",
            ],
            "value": [
                "which brand did we lock up for {v} so nobody else gets it?",
                "do we have {v} all to ourselves for any of our brands?",
            ],
            "both": [
                "do we have {v} to ourselves for {p}'s range?",
                "could {p} bring another partner into {v}?",
            ],
        },
    ),
    Topic(
        name="service levels and service credits",
        agreements=["SaaS Subscription Agreement", "Master Services Agreement",
                    "Outsourcing Agreement"],
        values=[percent(p) for p in ("97.5", "98", "98.5", "99", "99.25", "99.5", "99.6",
                                     "99.7", "99.8", "99.9", "99.95", "99.99")],
        extras={"resp": RESPONSE_TIMES},
        banned=["service level", "sla", "availab", "service credit", "uptime"],
        clauses=[
            "{sup} shall make the Hosted Services available {v} of the time in each calendar "
            "month, excluding Scheduled Maintenance. If Availability falls below such level, "
            "{sup} shall credit {cus} with the percentage of the monthly Subscription Fees set "
            "out in the Service Credit table in Schedule 4. Service Credits shall be {cus}'s "
            "sole monetary remedy for unavailability.",
            "The Services shall achieve a Monthly Uptime Percentage of at least {v}. For each "
            "month in which the Services fail to meet this target, {cus} shall be entitled to "
            "a service credit equal to a percentage of the monthly fees as set out in Schedule "
            "3, and repeated failure in three (3) consecutive months shall entitle {cus} to "
            "terminate this Agreement for cause.",
            "{sup} shall meet or exceed the Service Levels set out in Schedule 2, including a "
            "system availability target of {v} measured monthly and a response time of {resp} "
            "for Priority 1 incidents. Failure to meet any Service Level shall entitle {cus} to "
            "the service credits specified therein, which {sup} shall apply against the next "
            "invoice.",
        ],
        queries={
            "party": [
                "what do we get back if {p} keeps crashing?",
                "do we get money off when {p}'s platform is offline?",
                "how much downtime is {p} allowed before we get a refund?",
            ],
            "value": [
                "which platform promises to be up {v} of the time?",
                "who gives us money back if their system is up less than {v}?",
            ],
            "both": [
                "does {p} owe us a refund if they're up less than {v}?",
                "is {p} promising to stay online {v} of the time?",
            ],
        },
    ),
    Topic(
        name="source code escrow",
        agreements=SOFTWARE,
        values=SOFTWARE_PRODUCTS,
        extras={"agent": ESCROW_AGENTS, "days": [spelled(n, "day") for n in (14, 30, 45)]},
        banned=["escrow", "source code", "deposit", "release"],
        clauses=[
            "{sup} shall, within thirty (30) days of the Effective Date, deposit the source "
            "code of {v}, together with all build instructions and documentation necessary for "
            "a reasonably skilled programmer to maintain it, with {agent} under a three-party "
            "escrow agreement, and shall update such deposit with each new major release.",
            "The Source Code Materials for {v} shall be released to {cus} by the escrow agent "
            "if {sup} (i) becomes insolvent or enters into liquidation, (ii) ceases to carry on "
            "business in the ordinary course, or (iii) fails to remedy a material failure to "
            "provide Support Services within {days} of written notice. Upon release, {cus} may "
            "use the Source Code Materials solely to support its own use of the Software.",
            "{sup} shall maintain a current copy of the human-readable code for {v} in escrow "
            "with {agent} for the benefit of {cus}. {cus} shall be entitled to conduct "
            "verification testing of the deposited materials once per year, and the fees of "
            "the escrow agent shall be borne by {sup}.",
        ],
        queries={
            "party": [
                "if {p} goes bust, can our own developers take over their program?",
                "what happens to the tool we rely on if {p} shuts up shop?",
                "can we keep {p}'s system running ourselves if they disappear?",
            ],
            "value": [
                "if the company behind {v} folds, do we get the underlying code?",
                "can we maintain {v} ourselves if the vendor goes under?",
            ],
            "both": [
                "does {p} keep a copy of the {v} code with an outside party for us?",
                "if {p} goes bankrupt, do we get the programming behind {v}?",
            ],
        },
    ),
    Topic(
        name="notices",
        agreements=GENERAL,
        values=ADDRESSES,
        banned=["notice", "notif", "deemed"],
        clauses=[
            "All notices under this Agreement shall be in writing and shall be deemed duly "
            "given (a) when delivered by hand, (b) two (2) business days after dispatch by "
            "internationally recognised courier, or (c) when sent by email with confirmation "
            "of transmission, to {sup} at: {v}, or such other address as {sup} may designate "
            "by notice.",
            "Any notice or other communication given under or in connection with this "
            "Agreement shall be in writing, in the English language, and shall be delivered "
            "personally or sent by pre-paid first-class post or recorded delivery to {party} at "
            "{v}. Notices sent by email shall not be valid for the purposes of any claim or "
            "termination.",
            "Notices to {sup} shall be addressed to {v}, with a copy (which shall not "
            "constitute notice) to its outside counsel. A notice shall be effective upon "
            "receipt or, if delivery is refused, upon the date of such refusal. Either Party "
            "may change its address for notices by giving ten (10) days' written notice.",
        ],
        queries={
            "party": [
                "where should official letters for {p} go?",
                "who at {p} do we write to when it's official?",
                "can we just email {p} if we want to lodge a formal complaint?",
            ],
            "value": [
                "which supplier wants official letters sent to their {v} office?",
                "whose legal team in {v} gets our formal letters?",
            ],
            "both": [
                "do official letters for {p} go to {v}?",
                "should we post formal letters for {p} to {v}?",
            ],
        },
    ),
    Topic(
        name="severability",
        agreements=GENERAL,
        banned=["sever", "invalid", "unenforceab", "provision"],
        clauses=[
            "If any provision of this Agreement is held by a court of competent jurisdiction to "
            "be invalid, illegal or unenforceable in any respect, such provision shall be "
            "modified to the minimum extent necessary to make it enforceable, and the validity, "
            "legality and enforceability of the remaining provisions of this Agreement between "
            "{party} and {cus} shall not in any way be affected or impaired thereby.",
            "Should any term of this Agreement be or become void or unenforceable, "
            "in whole or in part, the remaining terms shall continue in full force and effect. "
            "{sup} and {cus} shall negotiate in good faith to replace the void term with a "
            "valid term that most closely reflects the Parties' original commercial intention.",
            "The invalidity or unenforceability of any part of this Agreement shall not affect "
            "the validity or enforceability of the balance hereof. If any provision is found to "
            "be unenforceable, it shall be deemed severed and {sup} and {cus} shall be bound by "
            "the remaining provisions as if the severed provision had not been included.",
        ],
        queries={
            "party": [
                "if a judge scraps one part of the {p} contract, does the rest still hold?",
                "does the whole {p} deal fall apart if one bit turns out to be against the law?",
                "what if one line of the {p} paperwork gets thrown out by a judge?",
            ],
        },
    ),
    Topic(
        name="non-compete",
        agreements=SERVICES + GOODS,
        values=[months(n) for n in (3, 6, 9, 12, 18, 24, 30, 36, 48, 60)],
        extras={"business": BUSINESSES, "region": REGIONS},
        banned=["compet", "restrict", "covenant"],
        clauses=[
            "During the Term and for a period of {v} following its termination, {sup} shall "
            "not, directly or indirectly, engage in, or provide services to any person engaged "
            "in, any business that competes with {cus}'s {business} business within {region}, "
            "without the prior written consent of {cus}.",
            "{sup} covenants that for {v} after the end of this Agreement it will not develop, "
            "manufacture or supply any product or service that is substantially similar to, or "
            "competitive with, those supplied to {cus} hereunder, to any Competitor identified "
            "in Schedule 5. The Parties agree that this restriction is reasonable in scope and "
            "duration.",
            "In consideration of the fees payable hereunder, {party} agrees that it shall not, "
            "for {v} from the Effective Date, enter into any agreement with a competitor of "
            "{cus} for the provision of services similar to those provided hereunder. If any "
            "court finds this restriction unreasonable, it shall apply with such modifications "
            "as are necessary to make it enforceable.",
        ],
        queries={
            "party": [
                "once we part ways, can {p} go straight to the other players in our market?",
                "is {p} allowed to open a similar business up against us?",
                "can {p} sell the same thing to our biggest rival?",
            ],
            "value": [
                "which partner can't work with our rivals for {v}?",
                "who is blocked from helping our rivals for {v}?",
            ],
            "both": [
                "is {p} kept away from our rivals for {v}?",
                "can {p} work with a rival of ours, or must they wait {v}?",
            ],
        },
    ),
    Topic(
        name="liquidated damages",
        agreements=["Supply Agreement", "Manufacturing Agreement"],
        values=money_pool([500, 750, 1_000, 1_500, 2_000, 2_500, 5_000, 10_000]),
        extras={"product": [p.legal["v"] for p in PRODUCTS]},
        banned=["liquidated", "damages", "pre-estimate"],
        clauses=[
            "If {sup} fails to deliver the {product} by the applicable Delivery Date, {sup} "
            "shall pay to {cus}, as liquidated damages and not as a penalty, {v} for each day "
            "of delay, up to a maximum of ten percent (10%) of the total Contract Price. The "
            "Parties agree that such sum represents a genuine pre-estimate of the loss likely "
            "to be suffered by {cus}.",
            "Should any consignment of the {product} not be delivered by the Scheduled "
            "Delivery Date, {sup} shall pay liquidated damages at the rate of {v} per day until "
            "delivery of the full consignment is achieved. Such liquidated damages shall be "
            "{cus}'s sole and exclusive financial remedy for delay, save where the delay "
            "continues beyond the Longstop Date.",
            "Where {sup} fails to meet any Milestone Date for the {product}, {cus} may deduct "
            "from any sums due to {sup} liquidated damages calculated at {v} per calendar day "
            "of delay. Payment of liquidated damages shall not relieve {sup} of its obligation "
            "to complete delivery or of any other obligation under this Agreement.",
        ],
        queries={
            "party": [
                "what does {p} owe us for each day they deliver late?",
                "is there a fixed daily charge if {p} misses the delivery date?",
                "does {p} pay us something automatically when they run behind schedule?",
            ],
            "value": [
                "which supplier owes us {v} a day for being late?",
                "who pays us {v} for every day they're behind?",
            ],
            "both": [
                "does {p} owe us {v} a day if they deliver late?",
                "is {p}'s charge for late delivery {v} per day?",
            ],
        },
    ),
    Topic(
        name="anti-bribery",
        agreements=GENERAL,
        banned=["brib", "corrupt", "fcpa", "improper payment", "facilitation", "kickback"],
        clauses=[
            "{party} (“{sup}”) shall comply with all applicable anti-bribery and "
            "anti-corruption laws, including the U.S. Foreign Corrupt Practices Act and the UK "
            "Bribery Act 2010, and shall not, directly or indirectly, offer, pay, promise or "
            "authorise the payment of any money or thing of value to any government official "
            "or other person for the purpose of improperly obtaining or retaining business.",
            "{sup} represents and warrants that neither it nor any of its officers, employees "
            "or agents has made or will make any facilitation payment, kickback or other "
            "improper payment in connection with this Agreement. {sup} shall maintain adequate "
            "procedures to prevent bribery and shall promptly report to {cus} any request for "
            "an improper payment. Breach of this Clause shall entitle {cus} to terminate this "
            "Agreement immediately.",
            "{sup} shall ensure that all persons associated with it who perform services in "
            "connection with this Agreement comply with {cus}'s Anti-Corruption Policy, shall "
            "provide an annual written certification of compliance, and shall cooperate fully "
            "with any investigation by {cus} into suspected bribery or corruption, including "
            "by granting access to relevant personnel and documents.",
        ],
        queries={
            "party": [
                "what stops {p} from buying favours with envelopes of cash?",
                "can we drop {p} if they slip money to a civil servant?",
                "has {p} promised not to hand out backhanders?",
                "does {p} have to prove every year they don't grease palms?",
            ],
        },
    ),
    Topic(
        name="subcontracting",
        agreements=SERVICES + ["Manufacturing Agreement"],
        extras={"days": [spelled(n, "day") for n in (10, 14, 20, 30)]},
        banned=["subcontract", "sub-contract", "delegat"],
        clauses=[
            "{party} shall not subcontract or delegate any of its obligations under this "
            "Agreement without the prior written consent of {cus}. {sup} shall remain fully "
            "responsible for the acts and omissions of its subcontractors as if they were its "
            "own, and shall ensure that each subcontractor is bound by written terms no less "
            "protective of {cus} than those set out herein.",
            "{sup} may engage subcontractors to perform non-critical elements of its "
            "obligations provided that it gives {cus} not less than {days} prior written notice "
            "of the identity of each proposed subcontractor. {cus} may object on reasonable "
            "grounds, in which case {sup} shall not use such subcontractor. Any approval shall "
            "not relieve {sup} of its obligations hereunder.",
            "{sup} shall not, without {cus}'s prior written approval, sub-contract the whole "
            "or any part of its obligations or move performance of any material part thereof "
            "to any facility other than those approved in writing by {cus}. Any approved "
            "subcontractor shall comply with {cus}'s Supplier Code of Conduct.",
        ],
        queries={
            "party": [
                "can {p} hand part of our job to another firm?",
                "does {p} need our okay before bringing in outside companies to do the work?",
                "if {p} farms out the work, are they still answerable for it?",
            ],
        },
    ),
]

# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------


@dataclass
class Doc:
    topic: str
    party: tuple[str, str]
    value: Value | None
    title: str
    text: str
    id: str = ""


@dataclass
class Query:
    topic: str
    text: str
    doc: Doc
    id: str = ""


def word_count(text: str) -> int:
    return len(text.split())


def fill(template: str, **slots: str) -> str:
    return template.format(**slots)


def build_documents(rng: random.Random) -> list[Doc]:
    """DOCS_PER_TOPIC clauses per topic, each for a distinct party and key value."""
    docs: list[Doc] = []
    seen_texts: set[str] = set()
    used_sections: set[tuple[str, str, str]] = set()
    for topic in TOPICS:
        parties = rng.sample(PARTIES, DOCS_PER_TOPIC)
        values: list[Value | None] = [None] * DOCS_PER_TOPIC
        if topic.values:  # as many distinct values as the pool allows
            pool = rng.sample(topic.values, len(topic.values))
            values = (pool * DOCS_PER_TOPIC)[:DOCS_PER_TOPIC]
        # Spread the clause templates evenly over the topic's documents.
        templates = [topic.clauses[i % len(topic.clauses)] for i in range(DOCS_PER_TOPIC)]
        rng.shuffle(templates)
        for party, value, template in zip(parties, values, templates):
            agreement, text = draft_clause(rng, topic, template, party, value, seen_texts)
            seen_texts.add(text)
            while True:  # a section number not yet used in this party's agreement
                section = f"§{rng.randint(2, 24)}.{rng.randint(1, 8)}"
                if (party[0], agreement, section) not in used_sections:
                    used_sections.add((party[0], agreement, section))
                    break
            docs.append(Doc(topic.name, party, value,
                            f"{agreement} — {party[0]} — {section}", text))
    return docs


def draft_clause(rng: random.Random, topic: Topic, template: str, party: tuple[str, str],
                 value: Value | None, seen: set[str]) -> tuple[str, str]:
    """Pick an agreement type and fill the template; re-draw if the text already exists."""
    for _ in range(100):
        agreement = rng.choice(topic.agreements)
        sup, cus = AGREEMENTS[agreement]
        slots = {"party": party[0], "sup": sup, "cus": cus}
        if value is not None:
            slots.update(value.legal)
        slots.update({name: rng.choice(pool) for name, pool in topic.extras.items()})
        text = fill(template, **slots)
        text = text[0].upper() + text[1:]
        if text not in seen:
            return agreement, text
        template = rng.choice(topic.clauses)
    raise RuntimeError(f"cannot draft a unique clause for {topic.name}")


def choose_mode(rng: random.Random, topic: Topic, doc: Doc, docs: list[Doc]) -> str:
    if not topic.values:
        return "party"
    mode = rng.choices(list(MODE_WEIGHTS), weights=list(MODE_WEIGHTS.values()))[0]
    if mode == "value":  # value alone must single out the clause within its topic
        same = [d for d in docs if d.topic == topic.name and d.value.key == doc.value.key]
        if len(same) > 1:
            mode = "both"
    return mode


def build_queries(rng: random.Random, docs: list[Doc]) -> list[Query]:
    queries: list[Query] = []
    seen: set[str] = set()
    for topic in TOPICS:
        topic_docs = [d for d in docs if d.topic == topic.name]
        for doc in rng.sample(topic_docs, QUERIED_PER_TOPIC):
            mode = choose_mode(rng, topic, doc, docs)
            templates = list(topic.queries[mode])
            rng.shuffle(templates)
            for template in templates:
                plain = rng.choice(doc.value.plain) if doc.value else ""
                text = fill(template, p=doc.party[1], v=plain)
                text = text[0].upper() + text[1:]
                if text not in seen:
                    break
            else:
                raise RuntimeError(f"no unused query template left for {topic.name}")
            seen.add(text)
            queries.append(Query(topic.name, text, doc))
    return queries


def assign_ids(rng: random.Random, docs: list[Doc], queries: list[Query]) -> None:
    """Shuffle so that ids reveal nothing about topic or relevance."""
    for prefix, items in (("c", docs), ("q", queries)):
        order = list(range(len(items)))
        rng.shuffle(order)
        for number, index in enumerate(order, start=1):
            items[index].id = f"{prefix}{number:04d}"


def split_queries(rng: random.Random, queries: list[Query]) -> dict[str, list[Query]]:
    """Random split by query, stratified by topic so every topic is in both splits."""
    splits: dict[str, list[Query]] = {"train": [], "test": []}
    for topic in TOPICS:
        group = [q for q in queries if q.topic == topic.name]
        rng.shuffle(group)
        n_test = round(len(group) * TEST_FRACTION)
        splits["test"] += group[:n_test]
        splits["train"] += group[n_test:]
    for name in splits:
        splits[name].sort(key=lambda q: q.id)
    return splits


def validate(docs: list[Doc], queries: list[Query], splits: dict[str, list[Query]]) -> None:
    """Fail loudly if the set breaks any of its design rules."""
    assert len({d.text for d in docs}) == len(docs), "duplicate document text"
    assert len({d.title for d in docs}) == len(docs), "duplicate document title"
    assert len({q.text for q in queries}) == len(queries), "duplicate query text"
    for topic in TOPICS:  # a plain rendering must never be shared by two values
        owner: dict[str, str] = {}
        for value in topic.values or []:
            for plain in value.plain:
                assert owner.setdefault(plain, value.key) == value.key, \
                    f"{topic.name}: {plain!r} is ambiguous"
    for d in docs:
        n = word_count(d.text)
        assert CLAUSE_WORDS[0] <= n <= CLAUSE_WORDS[1], f"{d.topic}: clause has {n} words"
    topics = {t.name: t for t in TOPICS}
    for q in queries:
        n = word_count(q.text)
        assert QUERY_WORDS[0] <= n <= QUERY_WORDS[1], f"{q.text!r} has {n} words"
        lowered = q.text.lower()
        for term in topics[q.topic].banned:
            assert term not in lowered, f"{q.text!r} uses legal term {term!r}"
        # The specifics the query names must point at exactly one clause of its topic.
        names_party = q.doc.party[1] in q.text
        names_value = q.doc.value is not None and any(p in q.text for p in q.doc.value.plain)
        assert names_party or names_value, f"{q.text!r} names no specifics"
        candidates = [d for d in docs if d.topic == q.topic
                      and (not names_party or d.party == q.doc.party)
                      and (not names_value or d.value.key == q.doc.value.key)]
        assert candidates == [q.doc], f"{q.text!r} matches {len(candidates)} clauses"
    for name, split in splits.items():
        assert {q.topic for q in split} == set(topics), f"topic missing from {name}"
    queried = {q.doc.id for q in queries}
    assert len(docs) - len(queried) >= 60, "too few distractor documents"


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_qrels(path: Path, queries: list[Query]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in queries:
            f.write(f"{q.id}\t{q.doc.id}\t1\n")


def generate(out: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    docs = build_documents(rng)
    queries = build_queries(rng, docs)
    assign_ids(rng, docs, queries)
    splits = split_queries(rng, queries)
    validate(docs, queries, splits)

    (out / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "corpus.jsonl", [{"_id": d.id, "title": d.title, "text": d.text}
                                       for d in sorted(docs, key=lambda d: d.id)])
    write_jsonl(out / "queries.jsonl", [{"_id": q.id, "text": q.text}
                                        for q in sorted(queries, key=lambda q: q.id)])
    for name, split in splits.items():
        write_qrels(out / "qrels" / f"{name}.tsv", split)
    return {"documents": len(docs), "queries": len(queries),
            "train": len(splits["train"]), "test": len(splits["test"]),
            "distractors": len(docs) - len({q.doc.id for q in queries}),
            "topics": len(TOPICS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output directory (default: the folder of this script)")
    args = parser.parse_args()
    counts = generate(args.out)
    print(", ".join(f"{k}={v}" for k, v in counts.items()), f"-> {args.out}")


if __name__ == "__main__":
    main()
