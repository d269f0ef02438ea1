#!/usr/bin/env python3
"""Generate the deterministic example datasets shipped with evalgate.

Two domains from the LLM fine-tuning field:

* support-ticket triage (ticket text -> JSON with summary / urgency / category), chat format;
* telecom network alarm summarisation (alarm block -> one NOC shift-log sentence), in Alpaca
  and prompt/completion formats.

Items are composed from many pools (products, people, channels, vendor log styles, phrasings,
sentence orders, typos), seeded with ``random.Random`` so two runs write byte-identical files.
Before anything is written the script checks, with datasketch MinHash + MinHashLSH on
5-character shingles, that no golden item leaks into training, that training holds no
accidental near-duplicates (only the 8 deliberate ones at the end of the triage file), and
that golden items do not near-duplicate each other; colliding candidates are regenerated.

Usage: python scripts/make_example_data.py [--seed N] [--out-root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from datasketch import MinHash, MinHashLSH

T = TypeVar("T")
R = random.Random

TT_SYSTEM = (
    "You are a support triage assistant. Read the ticket and reply with JSON only, exactly these "
    'keys: "summary" (one sentence), "urgency" (low, medium, high or critical), "category" '
    "(billing, technical, account, shipping, feature_request or security)."
)
AS_INSTRUCTION = (
    "Summarise these network alarms for the NOC shift log in one sentence: what failed, where, "
    "the impact and the likely cause."
)

DEFAULT_SEED = 20261123
N_TT_TRAIN, N_TT_GOLDEN = 540, 300
N_AS_ALPACA, N_AS_NOC, N_AS_GOLDEN = 380, 150, 300
NUM_PERM, LSH_THRESHOLD, SHINGLE = 128, 0.5, 5
LEAK_MAX = 0.6  # golden input vs any training input: must stay below
NEAR_DUP = 0.85  # within training / within golden: must stay below
PLANTED_NEAR_DUP = 0.9  # the deliberate near-duplicates sit above this, so dedup surely sees them
MAX_TRIES = 500
# The pipeline rejects rendered chats over 1024 base-model (SmolLM2) tokens. Without a tokenizer
# we bound the count from above (calibrated on these formats: real <= chars/1.3 and <= est/0.72)
# and keep inputs well inside the budget, leaving room for instruction, answer and template.
MAX_INPUT_TOKENS = {"ticket": 700, "alarms": 760}
URGENCIES = ("low", "medium", "high", "critical")
CATEGORIES = ("billing", "technical", "account", "shipping", "feature_request", "security")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def pick(r: R, seq: Sequence[T]) -> T:
    return seq[r.randrange(len(seq))]


def chance(r: R, p: float) -> bool:
    return r.random() < p


def wpick(r: R, pairs: Sequence[tuple[T, float]]) -> T:
    x = r.random() * sum(w for _, w in pairs)
    for item, w in pairs:
        x -= w
        if x < 0:
            return item
    return pairs[-1][0]


def some(r: R, seq: Sequence[T], lo: int, hi: int) -> list[T]:
    return r.sample(list(seq), min(len(seq), r.randint(lo, hi)))


def digits(r: R, n: int) -> str:
    return str(r.randint(10 ** (n - 1), 10**n - 1))


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def shingles(text: str) -> set[str]:
    t = normalize(text)
    if len(t) < SHINGLE:
        return {t}
    return {t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1)}


def token_bound(text: str) -> float:
    """Conservative upper bound on SmolLM2 tokens: digits and symbols are ~1 token each."""
    est = sum(1 if not p.isalpha() else 1 + len(p) // 6
              for p in re.findall(r"\d|[A-Za-z]+|\S", text))
    return min(len(text) / 1.3, est / 0.72)


def word_count(s: str) -> int:
    return len(s.split())


def one_sentence(s: str, max_words: int) -> bool:
    body = s[:-1]
    return (
        s.endswith(".")
        and "\n" not in s
        and word_count(s) <= max_words
        and not re.search(r"[.!?]\s+[A-Z]", body)
        and not body.endswith(".")
    )


def grounded(summary: str, text: str, names: Sequence[str]) -> bool:
    """Every id/number-like token (3+ chars with a digit) and known name in the summary occurs
    in the source text, so references never invent facts."""
    low = text.casefold()
    for tok in re.findall(r"[\w#$€£:./,-]*\d[\w#$€£:./,%-]*", summary):
        tok = tok.strip(".,;:()%")
        if len(tok) >= 3 and tok.casefold() not in low:
            return False
    return all(n.casefold() in low for n in names if n and n in summary)


def third(fragment: str) -> str:
    """Turn a customer's first-person fragment into third person for a reference summary."""
    for pat, rep_ in ((r"\bour\b", "their"), (r"\bmy\b", "their"), (r"\bwe\b", "they"),
                      (r"\bus\b", "them"), (r"\bI\b", "they")):
        fragment = re.sub(pat, rep_, fragment)
    return fragment


def ascii_slug(s: str) -> str:
    s = s.translate(str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "ı": "i", "đ": "d"}))
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", s.lower())


# --------------------------------------------------------------------------------------------
# domain 1: support-ticket triage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    name: str
    kind: str  # saas | shop | telco
    domain: str
    plans: tuple[str, ...]
    things: str  # what customers work with ("invoices", "orders", ...)
    action: str  # the core thing users do ("send invoices")
    features: tuple[str, ...]
    items: tuple[str, ...] = ()
    prefix: str = ""


PRODUCTS: tuple[Product, ...] = (
    Product("Ledgerly", "saas", "ledgerly.io", ("Starter", "Pro", "Business"), "invoices",
            "send invoices", ("bank feed sync", "recurring invoices", "VAT return export",
                              "expense approvals", "multi-currency ledgers")),
    Product("PulseDesk", "saas", "pulsedesk.com", ("Team", "Growth", "Enterprise"), "tickets",
            "answer tickets", ("SLA timers", "macros", "email forwarding", "CSAT surveys",
                               "the agent inbox")),
    Product("Stackwise CRM", "saas", "stackwise.app", ("Basic", "Plus", "Scale"), "deals",
            "update deals", ("pipeline reports", "email sequences", "lead scoring",
                             "the Gmail add-on", "custom fields")),
    Product("Nimbus Drive", "saas", "nimbusdrive.net", ("Personal", "Team", "Business+"), "files",
            "open shared files", ("shared links", "the desktop sync client", "version history",
                                  "team folders", "retention rules")),
    Product("Orbitly", "saas", "orbitly.io", ("Free", "Standard", "Premium"), "tasks",
            "load project boards", ("the Gantt view", "recurring tasks", "time tracking",
                                    "guest access", "automations")),
    Product("ShiftPilot", "saas", "shiftpilot.co", ("Essentials", "Pro", "Multi-site"), "shifts",
            "publish rotas", ("shift swapping", "timesheet export", "availability requests",
                              "payroll sync", "clock-in geofencing")),
    Product("Mailtide", "saas", "mailtide.com", ("Lite", "Standard", "Premium"), "campaigns",
            "send campaigns", ("A/B tests", "audience segments", "double opt-in",
                               "the template editor", "send-time optimisation")),
    Product("DataHarbor", "saas", "dataharbor.ai", ("Team", "Business", "Enterprise"),
            "dashboards", "load dashboards", ("scheduled reports", "the Snowflake connector",
                                              "row-level security", "embedded dashboards",
                                              "the SQL editor")),
    Product("PayNest", "saas", "paynest.io", ("Standard", "Plus", "Custom"), "payouts",
            "take card payments", ("payment links", "subscription billing", "the refund API",
                                   "fraud rules", "multi-currency payouts")),
    Product("Quillpad", "saas", "quillpad.so", ("Free", "Team", "Business"), "pages",
            "edit pages", ("page permissions", "PDF export", "templates", "inline comments",
                           "the Confluence importer")),
    Product("Brightcart", "shop", "brightcart.shop", ("",), "orders", "check out",
            ("saved carts", "order tracking", "gift wrapping"),
            ("wireless earbuds", "coffee grinder", "yoga mat", "desk lamp", "air fryer"), "BC-"),
    Product("Nordhem Home", "shop", "nordhem.com", ("",), "orders", "check out",
            ("room planner", "delivery slots", "assembly booking"),
            ("oak dining table", "linen duvet cover", "floor lamp", "3-seat sofa", "wall shelf"),
            "NH"),
    Product("UrbanThread", "shop", "urbanthread.co.uk", ("",), "orders", "check out",
            ("size guide", "wishlist", "returns portal"),
            ("wool overcoat", "running shoes", "denim jacket", "merino jumper", "rain jacket"),
            "UT-"),
    Product("Gadgetry Hub", "shop", "gadgetryhub.com", ("",), "orders", "check out",
            ("price alerts", "trade-in quotes", "order tracking"),
            ("27-inch monitor", "mechanical keyboard", "USB-C dock", "ANC headphones",
             "smartwatch"), "GH"),
    Product("Verde Market", "shop", "verdemarket.eu", ("",), "orders", "check out",
            ("delivery slots", "substitution settings", "recurring baskets"),
            ("weekly veg box", "case of olive oil", "baby formula", "coffee bean subscription",
             "fruit hamper"), "VM-"),
    Product("Pawsome Supply", "shop", "pawsome.pet", ("",), "orders", "check out",
            ("autoship", "pet profiles", "order tracking"),
            ("dog crate", "cat tree", "grain-free kibble", "aquarium filter", "pet carrier"),
            "PS"),
    Product("Skylink Mobile", "telco", "skylink.mobi", ("Unlimited 5G", "SIM Only 30GB",
            "Family Share"), "lines", "make calls or use data", ("data rollover",
            "Wi-Fi calling", "eSIM transfer", "usage alerts"),
            ("SIM card", "eSIM QR code", "5G hotspot"), "SKY-"),
    Product("Fibrenet Broadband", "telco", "fibrenet.net", ("Fibre 150", "Fibre 500",
            "Fibre 1 Gig"), "connections", "get online", ("static IP", "parental controls",
            "speed boost", "usage alerts"), ("router", "mesh extender", "ONT box"), "FN"),
    Product("TeleNova", "telco", "telenova.com", ("Home + Mobile", "TV & Broadband",
            "Prepaid 20"), "services", "get online or make calls", ("data rollover",
            "multi-room TV", "usage alerts", "eSIM transfer"),
            ("set-top box", "router", "SIM card"), "TN-"),
    Product("Wavecom Business", "telco", "wavecom.biz", ("Business Fibre 1G", "SIP Trunk 30",
            "Managed SD-WAN"), "sites", "take customer calls", ("static IP", "call recording",
            "failover to 4G", "hunt groups"), ("business router", "desk phones",
            "4G backup dongle"), "WB-"),
)

FIRST = ("Siobhán", "José", "Zoë", "Łukasz", "Ngozi", "Priya", "Hiroshi", "Mei-Ling", "Ahmed",
         "Björn", "Chloé", "Dmitri", "Aisha", "Tomás", "Fatima", "Minh", "Søren", "Kemal",
         "Ana Luíza", "Raj", "Olumide", "Inés", "Kwame", "Yuki", "Marta", "Emily", "Jake",
         "Sarah", "Liam", "Hannah", "Mateo", "Giulia", "Arjun", "Nadia", "Oskar", "Leila", "Wei",
         "Thandiwe", "Pedro", "Elif", "Niamh", "Jonas", "Camille", "Rafael", "Amara", "Daniel",
         "Sofia", "Omar", "Ingrid", "Kenji", "Mariam", "Tiago", "Agnieszka", "Femi")
LAST = ("O'Reilly", "Martínez", "Müller", "Wiśniewski", "Okafor", "Raghunathan", "Tanaka", "Chen",
        "El-Sayed", "Lindqvist", "Dubois", "Volkov", "Bello", "Ó Briain", "Benali", "Nguyễn",
        "Kjær", "Yıldız", "Costa", "Patel", "Adeyemi", "García", "Mensah", "Sato", "Kowalczyk",
        "Carter", "Thompson", "Nguyen", "O'Connor", "Schmidt", "Rossi", "Fernández", "Novák",
        "Haddad", "Andersson", "Khumalo", "Silva", "Demir", "Murphy", "Becker", "Laurent",
        "Moreau", "Park", "Kim", "Iyer", "Horváth", "Jansen", "Papadopoulos", "Nakamura")
COMPANIES = ("Harbour & Finch", "Kessler Logistik", "Bluepeak Dental", "Oakridge Realty",
             "Sunfield Bakery", "Meridian Legal", "Nordlicht Design", "Tanaka Trading",
             "Casa Verde Imports", "Lumen Analytics", "Riverside Vets", "Atlas Freight",
             "Pixel & Pine", "Greenway Schools", "Brightwater Clinic", "Kowalski Auto",
             "Mbeki Consulting", "Sol y Mar Hotels", "Fjord Outdoor", "Quantum Tutors",
             "Copperleaf Cafés", "Arendt Architekten", "Baobab Foods", "Keystone Plumbing",
             "Silvermoon Events", "Vantage Physio", "Lighthouse Charity", "Ironbark Builders")
SUFFIXES = ("Ltd", "GmbH", "LLC", "Inc", "S.L.", "BV", "Pty Ltd", "", "SARL", "AB", "Ltd")
ROLES = ("office manager", "CTO", "finance lead", "founder", "IT admin", "operations manager",
         "head of support", "bookkeeper", "developer", "store owner", "practice manager",
         "HR coordinator", "marketing lead")
MAIL_DOMAINS = ("gmail.com", "outlook.com", "proton.me", "yahoo.co.uk", "web.de", "orange.fr",
                "icloud.com", "hotmail.es", "gmx.at")
CURRENCIES = (("$", "{s}{v}"), ("€", "{s}{v}"), ("£", "{s}{v}"), ("CHF", "{v} {s}"),
              ("EUR", "{v} {s}"), ("A$", "{s}{v}"), ("SEK", "{v} {s}"))
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


@dataclass
class Ctx:
    first: str
    last: str
    email: str
    company: str | None
    legal: str | None
    role: str
    product: Product
    plan: str
    cur: tuple[str, str]
    when: datetime
    team: int

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Draft:
    subject: str
    core: list[str]
    details: list[str]
    ask: str | None
    summary: str
    urgency: str
    category: str
    impact: str | None = None
    snippet: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def make_ctx(r: R, product: Product) -> Ctx:
    first, last = pick(r, FIRST), pick(r, LAST)
    company = pick(r, COMPANIES) if product.kind != "shop" or chance(r, 0.25) else None
    suffix = pick(r, SUFFIXES) if company else ""
    legal = f"{company} {suffix}".strip() if company else None
    if company and chance(r, 0.7):
        tld = pick(r, (".com", ".com", ".de", ".co.uk", ".io", ".fr", ".es", ".nl", ".se"))
        email = f"{pick(r, (ascii_slug(first), ascii_slug(first)[0] + ascii_slug(last), 'info', 'accounts'))}" \
                f"@{ascii_slug(company.split(' &')[0])}{tld}"
    else:
        sep = pick(r, (".", "_", ""))
        email = f"{ascii_slug(first)}{sep}{ascii_slug(last)}{pick(r, ('', '', digits(r, 2)))}"
        email += f"@{pick(r, MAIL_DOMAINS)}"
    start = datetime(2025, 2, 1, 6, 0)
    when = start + timedelta(minutes=r.randrange(0, 600 * 24 * 60))
    return Ctx(first, last, email, company, legal, pick(r, ROLES), product,
               pick(r, product.plans), pick(r, CURRENCIES), when,
               pick(r, (4, 6, 9, 12, 18, 25, 40, 60, 85, 140, 300)))


def money(r: R, c: Ctx, lo: float, hi: float) -> str:
    v = round(r.uniform(lo, hi), 0) - pick(r, (0.0, 0.01, 0.05, 0.0))
    sym, fmt = c.cur
    return fmt.format(s=sym, v=f"{v:,.2f}")


def invoice_id(r: R) -> str:
    return pick(r, (f"INV-{pick(r, ('2025', '2026'))}-{digits(r, 5)}", f"INV{digits(r, 7)}",
                    f"{digits(r, 4)}-{digits(r, 4)}", f"B-{digits(r, 6)}"))


def order_id(r: R, p: Product) -> str:
    return pick(r, (f"{p.prefix}{digits(r, 7)}", f"#{digits(r, 8)}", f"{p.prefix}{digits(r, 6)}"))


def day_str(r: R, d: datetime) -> str:
    return pick(r, (d.strftime("%d %b").lstrip("0"), d.strftime("%b %d").replace(" 0", " "),
                    d.strftime("%Y-%m-%d"), d.strftime("%d/%m"), d.strftime("%d.%m.%Y"),
                    d.strftime("%A")))


def clock(r: R, d: datetime) -> str:
    return pick(r, (d.strftime("%H:%M"), d.strftime("%H:%M") + " UTC",
                    d.strftime("%I:%M %p").lstrip("0").lower(), d.strftime("%H:%M") + " CET"))


def who(r: R, c: Ctx, personal: bool = False) -> str:
    """Subject of a reference summary; a company only for business matters."""
    opts = ["Customer", "Customer", "The customer", "User"]
    if c.company and not personal:
        opts += [c.company, c.company]
    return pick(r, opts)


def err_code(r: R, p: Product) -> str:
    stem = re.sub(r"[^A-Z]", "", p.name.upper())[:4]
    return pick(r, (f"HTTP {pick(r, ('500', '502', '503', '504'))}", f"ERR_{stem}_{digits(r, 3)}",
                    f"E{digits(r, 4)}", f"error {pick(r, ('0x80070005', '0xC0000142'))}",
                    f"{stem}-{digits(r, 3)}"))


def stack_snippet(r: R, c: Ctx, code: str) -> str:
    host = f"api.{c.product.domain}"
    path = pick(r, ("/v2/" + c.product.things, "/v1/sync/batch", "/v3/events",
                    "/v2/" + c.product.things + "/bulk"))
    ts = c.when.strftime("%Y-%m-%dT%H:%M:%S") + f".{digits(r, 3)}Z"
    status = code.split()[-1] if code.startswith("HTTP") else pick(r, ("500", "502", "422"))
    return pick(r, (
        "Traceback (most recent call last):\n"
        f'  File "sync_worker.py", line {r.randint(40, 400)}, in push_batch\n'
        "    resp.raise_for_status()\n"
        f"requests.exceptions.HTTPError: {status} Server Error for url: https://{host}{path}",
        f"{ts} ERROR [{pick(r, ('sync', 'worker-3', 'webhook-consumer'))}] POST {path} -> "
        f'{status} {{"error":"{code}","request_id":"req_{digits(r, 8)}"}}',
        f"com.{ascii_slug(c.product.name)}.client.ApiException: {status} ({code})\n"
        f"    at com.{ascii_slug(c.product.name)}.client.ApiClient.invoke(ApiClient.java:"
        f"{r.randint(100, 1300)})\n"
        f"    at com.acme.integration.SyncJob.run(SyncJob.java:{r.randint(20, 300)})",
        f"$ curl -s -o /dev/null -w '%{{http_code}}' https://{host}{path}\n{status}",
    ))


OPENERS = ("Hope you're well.", "Not sure who best to contact about this.", "Quick one.",
           "Sorry if this has been asked before.", "Following up on my call earlier today.",
           "I've been a customer for a few years and never had this before.",
           "Writing on behalf of our team.", "Long time user, first time writing in.")


# -- billing ----------------------------------------------------------------------------------


def sc_double_charge(r: R, c: Ctx) -> Draft:
    p, amt, day = c.product, money(r, c, 9, 900), day_str(r, c.when)
    if p.kind == "shop":
        ref, label, what = order_id(r, p), "order", "my order"
    else:
        ref, label = invoice_id(r), "invoice"
        what = f"the {p.name} {c.plan} plan" if p.kind == "saas" else f"my {p.name} bill"
    subj = pick(r, (f"Charged twice - {label} {ref}", "Double charge on my card",
                    f"Duplicate payment {amt}", "billed twice??", "Refund duplicate charge pls",
                    f"Two payments taken for {label} {ref}"))
    core = [pick(r, (
        f"I was charged {amt} twice on {day} for {what} ({label} {ref}).",
        f"My bank statement shows two identical payments of {amt} on {day} for {label} {ref}.",
        f"You've taken {amt} from our card twice for the same {label}, {ref}.",
        f"{label.capitalize()} {ref} was paid once but {amt} left our account two times on {day}.",
    ))]
    details = some(r, ("Both transactions show as completed, not pending.",
                       "I only have one account with you as far as I know.",
                       "My bank says the second one is not a pre-authorisation.",
                       "I've attached a screenshot of the statement.",
                       "Something similar happened a few months ago too.",
                       "The card ends in " + digits(r, 4) + "."), 0, 2)
    ask = pick(r, ("Please refund the duplicate charge.", "Can you reverse the second payment?",
                   "Could you look into it and send the money back?",
                   "I'd like the extra payment refunded to the same card."))
    summary = pick(r, (
        f"{who(r, c)} was charged {amt} twice for {label} {ref} and wants the duplicate refunded.",
        f"Duplicate {amt} payment taken for {label} {ref}; customer asks for the second charge "
        "to be refunded.",
        f"{who(r, c)} reports a double charge of {amt} on {label} {ref} and requests a refund of "
        "one payment.",
    ))
    return Draft(subj, core, details, ask, summary, "medium", "billing")


def sc_payment_failed(r: R, c: Ctx) -> Draft:
    p = c.product
    code = pick(r, ("card_declined", "do_not_honor", "insufficient_funds", "3DS authentication "
                    "failed", "PAY-402", "expired_card"))
    blocking = chance(r, 0.6)
    subj = pick(r, ("Payment keeps failing", f"Can't renew {c.plan} plan",
                    "URGENT: account suspended - payment", f"Card declined ({code})",
                    "Renewal payment error", "Unable to update payment method"))
    core = [pick(r, (
        f"Our {c.plan} renewal payment keeps failing with '{code}' even though the card is valid.",
        f"Every time I try to pay the {p.name} renewal I get '{code}'.",
        f"The automatic payment for our {p.name} subscription was rejected ({code}) and retrying "
        "doesn't help.",
    ))]
    if blocking:
        imp = pick(r, (
            f"The account is now suspended and all {c.team} of our staff are locked out.",
            f"Because of this the service was suspended and our {c.team} people cannot "
            f"{p.action}.",
            f"We're completely blocked: nobody on the team can {p.action} until this is paid.",
        ))
        core.append(imp)
        urg = "high"
        summary = pick(r, (
            f"{who(r, c)}'s renewal payment fails with {code}, the account is suspended and "
            f"staff cannot {p.action}.",
            f"Failed renewal payment ({code}) has suspended the {p.name} account, blocking the "
            "customer's team from working.",
            f"Payment error {code} on renewal has locked the whole team out of {p.name}; needs "
            "payment sorted urgently.",
        ))
    else:
        core.append(pick(r, ("The account still works for now but I got a warning email.",
                             "We're in the grace period, so nothing is blocked yet.",
                             "Service hasn't been interrupted yet.")))
        urg = "medium"
        summary = pick(r, (
            f"{who(r, c)}'s {p.name} renewal payment is failing with {code}; service still "
            "works for now.",
            f"Renewal card payment declined ({code}), no service impact yet but the customer "
            "needs help completing payment.",
        ))
    details = some(r, ("I've tried two different cards.", "Our bank says they see no declined "
                       "transaction on their side.", "I cleared the browser cache and tried "
                       "again.", f"The card is a company {pick(r, ('Visa', 'Amex', 'Mastercard'))}."),
                   0, 2)
    ask = pick(r, ("Can you tell me what's wrong?", "Please help us get this sorted today.",
                   "Is there another way to pay, e.g. bank transfer?", None))
    return Draft(subj, core, details, ask, summary, urg, "billing")


def sc_refund_missing(r: R, c: Ctx) -> Draft:
    p = c.product
    days = r.randint(9, 35)
    amt = money(r, c, 15, 600)
    if p.kind == "shop":
        ref = order_id(r, p)
        item = pick(r, p.items)
        thing = f"the {item} from order {ref}"
        core0 = pick(r, (f"I returned {thing} {days} days ago and still haven't got my {amt} "
                         "refund.",
                         f"Return for order {ref} ({item}) was received by your warehouse "
                         f"{days} days ago but no refund of {amt} yet."))
    else:
        ref = invoice_id(r)
        core0 = pick(r, (f"Your agent promised a refund of {amt} for invoice {ref} {days} days "
                         "ago and nothing has arrived.",
                         f"I cancelled within the trial period and was told {amt} (invoice {ref}) "
                         f"would be refunded, that was {days} days ago."))
    subj = pick(r, ("Where is my refund?", f"Refund not received - {ref}", "Still waiting on "
                    "refund", f"Refund of {amt} missing", "refund??"))
    details = some(r, ("Your site says refunds take 5-7 working days.", "I have the return "
                       "tracking number if you need it.", "I've emailed twice already without a "
                       "reply.", "My bank confirmed nothing pending."), 0, 2)
    ask = pick(r, ("Please confirm when it will be paid.", "Can you chase this?",
                   "I'd appreciate an update.", "Please sort this out."))
    summary = pick(r, (
        f"{who(r, c)} has not received a promised {amt} refund for {ref} after {days} days and "
        "wants an update.",
        f"Refund of {amt} for {ref} still outstanding {days} days later; customer asks when it "
        "will be paid.",
    ))
    return Draft(subj, [core0], details, ask, summary, "medium", "billing")


def sc_invoice_admin(r: R, c: Ctx) -> Draft:
    kind = pick(r, ("vat", "address", "copy", "po"))
    vat = pick(r, (f"DE{digits(r, 9)}", f"GB{digits(r, 9)}", f"FR{digits(r, 11)}",
                   f"NL{digits(r, 9)}B01", f"ESB{digits(r, 8)}"))
    ref = invoice_id(r)
    month = pick(r, MONTHS)
    if kind == "vat":
        subj = pick(r, ("VAT number on invoice", "Invoice correction", f"Add VAT ID to {ref}"))
        core = [f"Could you add our VAT number {vat} to invoice {ref} and reissue it?"]
        summary = f"{who(r, c)} asks for VAT number {vat} to be added to invoice {ref} and the " \
                  "invoice reissued."
    elif kind == "address":
        subj = pick(r, ("Wrong billing address", "Invoice address change", "Update company "
                        "details on invoices"))
        core = [pick(r, (f"Our invoices still show our old office address, we moved in {month}.",
                         f"The billing address on {ref} is wrong, we moved offices in {month}."))]
        summary = pick(r, (f"{who(r, c)} needs the billing address on invoices updated after "
                           f"moving offices in {month}.",
                           f"Request to correct the company address on invoices following a "
                           f"move in {month}."))
    elif kind == "copy":
        subj = pick(r, ("Invoice copy", f"Need invoices for {month}", "Where can I download "
                        "invoices?"))
        core = [pick(r, (f"Our accountant needs copies of all invoices since {month}, where can "
                         "I download them?",
                         f"How do I get a PDF of the {month} invoice? I can't find it in the "
                         "dashboard."))]
        summary = pick(r, (f"{who(r, c)} asks how to download invoice copies from {month} "
                           "onwards for their accountant.",
                           f"Customer cannot find where to download the {month} invoice PDF."))
    else:
        po = f"PO-{digits(r, 6)}"
        subj = pick(r, ("Purchase order number on invoice", f"PO {po}", "Invoice needs PO ref"))
        core = [f"Our finance team can't pay invoice {ref} unless it shows purchase order {po}."]
        summary = f"{who(r, c)} needs purchase order {po} added to invoice {ref} before finance " \
                  "can pay it."
    details = some(r, ("No rush, just before month end.", f"I'm the {c.role} here.",
                       f"The account email is {c.email}."), 0, 2)
    ask = pick(r, ("Thanks!", "Let me know if you need anything else.", None))
    return Draft(subj, core, details, ask, summary, "low", "billing")


def sc_charged_after_cancel(r: R, c: Ctx) -> Draft:
    p, amt, month = c.product, money(r, c, 8, 400), pick(r, MONTHS)
    subj = pick(r, ("Charged after cancelling", "Cancelled but still billed", f"Why was I charged"
                    f" {amt}?", "subscription cancelled - still charged"))
    core = [pick(r, (f"I cancelled my {p.name} subscription in {month} but you charged me {amt} "
                     "again this month.",
                     f"We closed the account in {month} and there's still a {amt} charge from "
                     f"{p.name} on our card."))]
    details = some(r, ("I have the cancellation confirmation email.", "Nobody has logged in "
                       "since.", "Please don't just send me a help article."), 0, 2)
    ask = pick(r, ("Please refund it and make sure it doesn't happen again.", "I want this "
                   "money back.", "Can you check and refund?"))
    summary = pick(r, (f"{who(r, c)} was charged {amt} after cancelling in {month} and wants a "
                       "refund.",
                       f"Customer cancelled {p.name} in {month} but was still billed {amt}; "
                       "requests refund and confirmation."))
    return Draft(subj, core, details, ask, summary, "medium", "billing")


def sc_price_question(r: R, c: Ctx) -> Draft:
    old, new = money(r, c, 10, 60), money(r, c, 61, 140)
    subj = pick(r, ("Question about my bill", "Why did the price go up?", "Bill higher than "
                    "usual", "price change?"))
    core = [pick(r, (f"My monthly bill went from {old} to {new}, can you explain why?",
                     f"Just noticed we now pay {new} instead of {old} for the {c.plan} plan."))]
    details = some(r, ("I didn't get any notice about a price change.", "Not a big deal, just "
                       "want to understand it.", "Nothing changed on our side."), 0, 2)
    ask = pick(r, ("Could you explain the difference?", "Is this a mistake?", None))
    plan = f" on the {c.plan} plan" if f"{c.plan} plan" in core[0] else ""
    summary = pick(r, (f"{who(r, c)} asks why their bill rose from {old} to {new}.",
                       f"Customer wants an explanation for the price increase from {old} to "
                       f"{new}{plan}."))
    return Draft(subj, core, details, ask, summary, "low", "billing")


# -- technical --------------------------------------------------------------------------------


def sc_outage(r: R, c: Ctx) -> Draft:
    p, t = c.product, clock(r, c.when)
    code = err_code(r, p)
    if p.kind == "saas" or chance(r, 0.45):
        n_sites = r.randint(3, 9)
        scope, verb, scope_sum = pick(r, (
            (f"none of our {c.team} users", "can", f"all {c.team} users"),
            ("nobody in the company", "can", "the whole company"),
            (f"all {c.team} of us", "can't", f"all {c.team} staff"),
            ("our customers and staff", "can't", "customers and staff"),
        ) if p.kind == "saas" else (
            ("every customer on our street", "can't", "the whole street"),
            (f"all {n_sites} of our branch offices", "can't", f"all {n_sites} branch offices"),
            ("the whole building", "can't", "the whole building"),
        ))
        subj = pick(r, (f"{p.name} DOWN", "URGENT - outage", f"Production down since {t}",
                        "Nothing is working!!", f"Total outage - {code}", "Is there an outage?"))
        core = [pick(r, (f"Since {t} {scope} {verb} {p.action}, everything fails with {code}.",
                         f"Complete outage: from {t} {scope} {verb} {p.action} ({code}).")),
                pick(r, ("Your status page still says all systems operational.",
                         "This is costing us money every minute.", "We have tried different "
                         "networks and devices, same result."))]
        urg = "critical"
        summary = pick(r, (
            f"Full {p.name} outage since {t}: {scope_sum} cannot {p.action} and get {code}.",
            f"{who(r, c)} reports a complete outage since {t} with {code}, affecting all users.",
            f"Service-wide failure since {t} ({code}) leaves all of the customer's users unable "
            f"to {p.action}.",
        ))
    else:
        dev = pick(r, p.items[:1] + ("router", "modem"))
        subj = pick(r, ("No internet", "Line down", f"{dev} showing red light", "Service down at "
                        "our office", "no connection since this morning"))
        core = [pick(r, (f"Our connection has been completely down since {t} and the {dev} "
                         "shows a red LOS light.",
                         f"We've had no service at all since {t}; restarting the {dev} does "
                         "nothing."))]
        urg = "high"
        summary = pick(r, (f"{who(r, c)} has had total loss of {p.name} service since {t}; {dev} "
                           "shows a fault and restarts don't help.",
                           f"Single premises completely offline since {t}, {dev} fault light on, "
                           "customer needs an engineer."))
    details = some(r, (f"Error: {code}.", f"Account ID ACC-{digits(r, 6)}.",
                       "We restarted everything on our side.", "Other websites work fine." if
                       p.kind == "saas" else "Neighbours seem to have the same problem.",
                       f"It started right around {t}."), 0, 2)
    ask = pick(r, ("Please escalate immediately.", "When will this be fixed?", "Call me on "
                   f"+{digits(r, 2)} {digits(r, 3)} {digits(r, 4)} asap.", None))
    return Draft(subj, core, details, ask, summary, urg, "technical")


def sc_api_errors(r: R, c: Ctx) -> Draft:
    p, t = c.product, clock(r, c.when)
    code = pick(r, ("HTTP 500", "HTTP 502", "HTTP 503", "HTTP 429", "HTTP 401"))
    flow = pick(r, (f"our {p.things} sync", "the webhook deliveries to our ERP",
                    "order import from our shop", "our nightly export job"))
    subj = pick(r, (f"API returning {code.split()[-1]}", f"Integration broken since {t}",
                    f"{p.name} API errors", "webhooks failing", f"{code} on every request"))
    core = [pick(r, (f"Since {t} every call from {flow} to your API returns {code}.",
                     f"Our integration started failing at {t}: {flow} gets {code} on each "
                     "request.")),
            pick(r, ("Orders are piling up and we can't process them.",
                     "Our operations team is blocked until this works again.",
                     "This is holding up invoicing for all our clients."))]
    details = some(r, ("Nothing changed on our side.", "The API key is still valid.",
                       f"Request ID req_{digits(r, 8)}.", "Retries with backoff didn't help."),
                   0, 2)
    summary = pick(r, (
        f"{who(r, c)}'s API integration has failed with {code} since {t}, blocking "
        f"{flow.replace('our ', 'their ')}.",
        f"{p.name} API calls return {code} since {t}, stopping "
        f"{flow.replace('our ', 'the customer' + chr(39) + 's ')} and blocking operations.",
    ))
    ask = pick(r, ("Can someone look at this urgently?", "Please investigate.", None))
    return Draft(subj, core, details, ask, summary, "high", "technical",
                 snippet=stack_snippet(r, c, code))


def sc_bug(r: R, c: Ctx) -> Draft:
    p = c.product
    feat = pick(r, p.features)
    symptom = pick(r, ("shows a blank page", "spins forever", "throws an error",
                       "saves the wrong values", "duplicates every entry", "times out"))
    code = err_code(r, p)
    blocking = chance(r, 0.25)
    subj = pick(r, (f"{feat} not working", f"Bug: {feat} {symptom}", f"{feat} broken?",
                    f"Problem with {feat}", f"{code} when using {feat}"))
    core = [pick(r, (f"Since {day_str(r, c.when)}, {feat} {symptom} ({code}).",
                     f"Whenever I open {feat} it {symptom}; the console shows {code}.",
                     f"{feat[0].upper() + feat[1:]} {symptom} for me with {code}."))]
    if blocking:
        core.append(pick(r, (f"There's no workaround and {c.team} people depend on it every day.",
                             "This blocks our month-end close and there's no way around it.")))
        urg = "high"
        summary = pick(r, (f"{feat[0].upper() + feat[1:]} {symptom} with {code} and there is no "
                           "workaround, blocking the customer's team.",
                           f"{who(r, c)} reports {feat} {symptom} ({code}), blocking daily work "
                           "with no workaround."))
    else:
        core.append(pick(r, ("We can work around it for now by doing it manually.",
                             "Refreshing a few times sometimes helps.",
                             "It works in Firefox but not in Chrome.", "")))
        urg = "medium"
        summary = pick(r, (f"{who(r, c)} reports that {feat} {symptom} with {code}; a workaround "
                           "exists.",
                           f"Bug in {feat}: it {symptom} ({code}) for the customer, not fully "
                           "blocking."))
    core = [s for s in core if s]
    details = some(r, (f"Browser: {pick(r, ('Chrome 129', 'Edge', 'Safari 18', 'Firefox 131'))}.",
                       "Cleared cache and cookies already.", "Colleagues see the same thing.",
                       "It was fine last week."), 0, 3)
    ask = pick(r, ("Can you look into it?", "Is this a known issue?", "Any ideas?", None))
    return Draft(subj, core, details, ask, summary, urg, "technical")


def sc_howto(r: R, c: Ctx) -> Draft:
    p = c.product
    feat = pick(r, p.features)
    goal = pick(r, (f"set up {feat}", f"turn on {feat}", f"use {feat} with our existing setup",
                    f"configure {feat} for only some users"))
    subj = pick(r, (f"How do I {goal}?", f"Question about {feat}", "Quick how-to question",
                    f"Help setting up {feat}", "how to " + goal))
    core = [pick(r, (f"How do I {goal}?", f"Could you point me to instructions to {goal}?",
                     f"I'm trying to {goal} but can't find the option in settings."))]
    details = some(r, ("I looked in the help centre but the screenshots look different.",
                       f"We're on the {c.plan} plan." if c.plan else "Using the website.",
                       "No rush.", "Sorry if this is obvious!"), 0, 2)
    goal3 = goal.replace(" our ", " their ")
    summary = pick(r, (f"{who(r, c)} asks how to {goal3} in {p.name}.",
                       f"How-to question: customer wants to {goal3}.",
                       f"{who(r, c)} needs instructions to {goal3}."))
    return Draft(subj, core, details, pick(r, ("Thanks!", "Cheers.", None)), summary, "low",
                 "technical")


def sc_slow(r: R, c: Ctx) -> Draft:
    p = c.product
    if p.kind == "telco":
        plan_speed = pick(r, ("500", "1000", "150", "300"))
        got = r.randint(8, int(plan_speed) // 5)
        subj = pick(r, ("Very slow speeds", "Not getting what I pay for", "Speed issues",
                        "internet sooo slow"))
        core = [f"I pay for {plan_speed} Mbps but speed tests only show {got} Mbps, mostly in "
                "the evenings."]
        kind = "Mobile data" if p.name == "Skylink Mobile" else "Broadband"
        summary = pick(r, (f"{who(r, c)} gets only {got} Mbps on a {plan_speed} Mbps plan, "
                           "worst in the evenings.",
                           f"{kind} speeds far below plan ({got} of {plan_speed} Mbps); "
                           "customer wants it investigated."))
    else:
        secs = r.randint(12, 90)
        subj = pick(r, (f"{p.name} very slow", "Performance problems", f"{p.things} take ages to "
                        "load", "slow slow slow"))
        core = [f"Loading {p.things} now takes about {secs} seconds, it used to be instant."]
        summary = pick(r, (f"{who(r, c)} reports {p.things} in {p.name} now take about {secs} "
                           "seconds to load.",
                           f"Performance degradation: {p.things} take around {secs} seconds to "
                           "load for the customer."))
    details = some(r, ("It's been like this for about a week.", "Wired connection, so not Wi-Fi.",
                       "Other sites and apps are fine.", "Annoying but we can still work."), 0, 2)
    ask = pick(r, ("Can you check on your side?", "What can we do?", None))
    return Draft(subj, core, details, ask, summary, "medium", "technical")


def sc_app_crash(r: R, c: Ctx) -> Draft:
    p = c.product
    ver = f"{r.randint(2, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}"
    dev = pick(r, ("iPhone 15", "iPhone 13 mini", "Pixel 8", "Galaxy S23", "iPad Air",
                   "Xiaomi 13T", "Galaxy A54"))
    os_ = "iOS 18" if dev.startswith("i") else "Android 14"
    subj = pick(r, (f"App crashes on launch ({ver})", "Mobile app keeps crashing", f"{dev} app "
                    "crash", f"app closes itself after update {ver}"))
    core = [pick(r, (f"Since updating to version {ver} the {p.name} app crashes as soon as I "
                     f"open it on my {dev}.",
                     f"The app (v{ver}) closes immediately on {dev}, {os_}."))]
    details = some(r, ("Reinstalling didn't help.", "The website still works.", f"{os_}, latest "
                       "updates installed.", "My colleague on Android has no problem."), 0, 2)
    summary = pick(r, (f"{p.name} app v{ver} crashes on launch on the customer's {dev}; website "
                       "unaffected." if "website" in " ".join(details) else
                       f"{p.name} app v{ver} crashes on launch on the customer's {dev}.",
                       f"{who(r, c)} reports the mobile app v{ver} crashing at startup on "
                       f"{dev}."))
    ask = pick(r, ("Is a fix coming?", "Please advise.", None))
    return Draft(subj, core, details, ask, summary, "medium", "technical")


# -- account ----------------------------------------------------------------------------------


def sc_reset(r: R, c: Ctx) -> Draft:
    p = c.product
    n = r.randint(2, 6)
    subj = pick(r, ("Password reset email not arriving", "Can't reset password", "Locked out of "
                    "my account", "no reset link", "Login problem"))
    core = [pick(r, (f"I've requested a password reset {n} times but the email never arrives.",
                     f"The reset link never shows up in my inbox, tried {n} times today.",
                     "I can't log in and the 'forgot password' email doesn't come."))]
    details = some(r, ("Spam folder is empty too.", f"My login email is {c.email}.",
                       "I need to access my invoices.", "Other emails from you arrive fine."), 0, 2)
    summary = pick(r, (f"{who(r, c, personal=True)} cannot log in because password reset emails are not "
                       "arriving.",
                       f"Password reset email not received after repeated requests; customer "
                       f"locked out of {p.name}."))
    ask = pick(r, ("Can you reset it manually?", "Please help me get back in.", None))
    return Draft(subj, core, details, ask, summary, "medium", "account")


def sc_admin_lockout(r: R, c: Ctx) -> Draft:
    p = c.product
    why = pick(r, ("the only admin left the company", "our SSO certificate expired",
                   "my authenticator app was wiped", "the admin email bounces now"))
    subj = pick(r, ("Admin locked out", "Need admin access restored", "No admin on our "
                    "account!", "URGENT admin access", "lost admin rights"))
    core = [pick(r, (f"We have no working admin on our {p.name} account because {why}.",
                     f"None of us can reach the admin settings since {why}.")),
            pick(r, (f"That means we can't add or remove users and {c.team} staff are stuck.",
                     "New starters can't be onboarded and payroll is due this week.",
                     "We can't remove access for a leaver, which worries us."))]
    details = some(r, (f"I'm the {c.role} and can prove ownership.", "We can provide company "
                       "registration documents.", f"Workspace: {ascii_slug(c.company or c.last)}"
                       f".{p.domain}"), 0, 2)
    summary = pick(r, (f"{who(r, c)} has no working {p.name} admin because {third(why)}, "
                       "blocking user management for the team.",
                       f"Admin access lost ({third(why)}); customer cannot manage users and needs "
                       "ownership restored."))
    ask = pick(r, ("What do you need from us to restore access?", "Please treat as urgent.",
                   None))
    return Draft(subj, core, details, ask, summary, "high", "account")


def sc_change_details(r: R, c: Ctx) -> Draft:
    p = c.product
    new_mail = f"{ascii_slug(c.first)}.{ascii_slug(c.last)}@{pick(r, MAIL_DOMAINS)}"
    kind = pick(r, ("email", "owner", "name", "seats"))
    if kind == "email":
        subj, core = "Change login email", [f"Please change my login email to {new_mail}."]
        summary = f"{who(r, c, personal=True)} wants the account login email changed to {new_mail}."
    elif kind == "owner":
        subj = pick(r, ("Transfer account ownership", "Change account owner"))
        core = [pick(r, ("I'm leaving the company and need to transfer account ownership to my "
                         "colleague.", "How do we move ownership of the account to another "
                         "user?"))]
        summary = pick(r, (f"{who(r, c, personal=True)} asks how to transfer {p.name} account ownership to a "
                           "colleague.", "Request to transfer account ownership to another "
                           "team member."))
    elif kind == "name":
        subj = pick(r, ("Update company name", "Name change on account"))
        core = [pick(r, ("We rebranded, can the company name on the account be updated?",
                         "I got married and would like to update the name on my account."))]
        summary = pick(r, ("Customer asks to update the name shown on their account.",
                           f"{who(r, c, personal=True)} wants the account name updated."))
    else:
        n = r.randint(2, 15)
        subj = pick(r, ("Adding users", f"How to add {n} seats", "Invite colleagues?"))
        core = [f"How do I add {n} more users to our {c.plan or p.name} account?"]
        summary = f"{who(r, c, personal=True)} asks how to add {n} more users to their account."
    details = some(r, (f"Current email: {c.email}.", "No rush.", "Thanks in advance."), 0, 1)
    return Draft(subj, core, details, pick(r, ("Thanks.", None)), summary, "low", "account")


def sc_data_request(r: R, c: Ctx) -> Draft:
    p = c.product
    kind = pick(r, ("delete", "export"))
    if kind == "delete":
        subj = pick(r, ("Delete my account", "GDPR erasure request", "Close account and delete "
                        "data", "Right to be forgotten"))
        core = [pick(r, (f"Please delete my {p.name} account and all personal data you hold "
                         "under GDPR Article 17.", "I want my account closed and all my data "
                         "erased."))]
        summary = pick(r, (f"{who(r, c, personal=True)} requests deletion of their {p.name} account and "
                           "personal data under GDPR.",
                           "GDPR erasure request: customer wants the account closed and all "
                           "personal data deleted."))
    else:
        subj = pick(r, ("Data access request", "Subject access request", "Export of my data"))
        core = [pick(r, ("Under GDPR I'd like a copy of all personal data you hold about me.",
                         "Please send me an export of all data linked to my account."))]
        summary = pick(r, (f"{who(r, c, personal=True)} submits a subject access request for a copy of all "
                           "their personal data.",
                           "Customer requests an export of all personal data held on their "
                           "account."))
    details = some(r, (f"Account email: {c.email}.", "Please confirm within the legal "
                       "deadline.", "Don't send marketing emails in the meantime."), 0, 2)
    return Draft(subj, core, details, None, summary, "medium", "account")


# -- shipping ---------------------------------------------------------------------------------


def ship_item(r: R, c: Ctx) -> tuple[str, str]:
    p = c.product
    return (pick(r, p.items) if p.items else "package"), order_id(r, p)


def sc_not_delivered(r: R, c: Ctx) -> Draft:
    item, ref = ship_item(r, c)
    days = r.randint(3, 14)
    carrier = pick(r, ("DHL", "DPD", "UPS", "Royal Mail", "GLS", "PostNL", "Evri", "FedEx"))
    trk = f"{pick(r, ('JJD', '1Z', 'H', 'CX'))}{digits(r, 10)}"
    marked = chance(r, 0.45)
    subj = pick(r, (f"Order {ref} not arrived", "Where is my order?", "Parcel marked delivered "
                    "but not here" if marked else "Tracking not updating", f"Missing {item}"))
    core = [(f"Tracking for order {ref} ({carrier} {trk}) says delivered {days} days ago but "
             f"the {item} never arrived." if marked else
             f"My {item} (order {ref}) has been stuck at '{pick(r, ('in transit', 'at depot', 'out for delivery'))}' "
             f"with {carrier} for {days} days.")]
    details = some(r, ("I checked with neighbours and the building reception.",
                       "No card was left.", "It's a birthday present.", "Can you open a claim "
                       "with the carrier?", f"Delivery address is {pick(r, ('the office', 'a flat, buzzer 4B', 'our shop front'))}."),
                   0, 2)
    summary = pick(r, (
        f"Order {ref} shows {'delivered' if marked else 'stuck in transit'} with {carrier} but "
        f"the customer has not received the {item} after {days} days.",
        f"{who(r, c)} never received order {ref} ({item}); {carrier} tracking "
        f"{'says delivered' if marked else 'has not moved'} for {days} days.",
    ))
    ask = pick(r, ("Please resend or refund.", "What are my options?", "Can you chase this?",
                   None))
    return Draft(subj, core, details, ask, summary, "medium", "shipping",
                 fields={"Order number": ref})


def sc_wrong_or_damaged(r: R, c: Ctx) -> Draft:
    item, ref = ship_item(r, c)
    damaged = chance(r, 0.5)
    if damaged:
        dmg = pick(r, ("cracked", "dented", "soaked through", "missing parts", "smashed"))
        subj = pick(r, ("Item arrived damaged", f"Damaged delivery {ref}", "broken on arrival"))
        core = [pick(r, (f"The {item} from order {ref} arrived {dmg}.",
                         f"Order {ref} came today and the {item} is {dmg}."))]
        summary = pick(r, (f"{who(r, c)} received the {item} from order {ref} {dmg} and wants a "
                           "replacement or refund.",
                           f"Order {ref} delivered damaged ({item} {dmg}); customer asks for a "
                           "replacement."))
    else:
        other = pick(r, [i for i in c.product.items if i != item] or ["something else"])
        subj = pick(r, ("Wrong item received", f"Order {ref} - wrong product", "not what I "
                        "ordered"))
        core = [pick(r, (f"I ordered a {item} (order {ref}) but received a {other}.",
                         f"Got a {other} instead of the {item} in order {ref}."))]
        summary = pick(r, (f"{who(r, c)} received a {other} instead of the {item} ordered in "
                           f"{ref} and wants it swapped.",
                           f"Wrong item shipped for order {ref}: {other} sent instead of {item}."))
    details = some(r, ("Photos attached.", "The box itself looked fine.", "I need it by the "
                       "weekend if possible.", "Do I need to send it back first?"), 0, 2)
    ask = pick(r, ("Please send a replacement.", "How do I return it?", None))
    return Draft(subj, core, details, ask, summary, "medium", "shipping",
                 fields={"Order number": ref})


def sc_address_change(r: R, c: Ctx) -> Draft:
    item, ref = ship_item(r, c)
    street = pick(r, ("Lindenstraße", "Rue des Lilas", "Calle Mayor", "Baker Lane", "Kanalweg",
                      "Via Roma", "Harbour Road"))
    addr = f"{r.randint(2, 180)} {street}"
    subj = pick(r, ("Change delivery address", f"Wrong address on {ref}", "Update shipping "
                    "address pls"))
    core = [pick(r, (f"I entered the wrong address for order {ref}, it should go to {addr}.",
                     f"Can you change the delivery address on order {ref} to {addr}? It hasn't "
                     "shipped yet."))]
    details = some(r, ("The postcode is the same.", f"It's the {item}.", "I moved last week.",
                       "Please update before it's dispatched."), 0, 2)
    summary = pick(r, (f"{who(r, c)} needs the delivery address for order {ref} changed to "
                       f"{addr} before dispatch.",
                       f"Address correction request for order {ref}: ship to {addr} instead."))
    return Draft(subj, core, details, None, summary, "medium", "shipping",
                 fields={"Order number": ref})


def sc_eta(r: R, c: Ctx) -> Draft:
    item, ref = ship_item(r, c)
    subj = pick(r, ("Delivery time?", f"When will {ref} arrive?", "Question about delivery",
                    "shipping time"))
    core = [pick(r, (f"I ordered the {item} yesterday (order {ref}), roughly when will it arrive?",
                     f"Just checking the expected delivery date for order {ref}.",
                     f"Do you deliver on Saturdays? Waiting on order {ref}."))]
    details = some(r, ("No problem if it takes a few days.", "The confirmation email didn't say.",
                       "Thanks!"), 0, 1)
    summary = pick(r, (f"{who(r, c)} asks for the expected delivery date of order {ref}.",
                       f"Delivery timing question about order {ref}."))
    return Draft(subj, core, details, None, summary, "low", "shipping",
                 fields={"Order number": ref})


def sc_deadline(r: R, c: Ctx) -> Draft:
    item, ref = ship_item(r, c)
    qty = r.randint(12, 240)
    days = r.randint(1, 3)
    event = pick(r, ("our store opening", "a conference", "our wedding", "a client event",
                     "the school term start"))
    subj = pick(r, (f"Bulk order {ref} delayed - need by event", "URGENT delivery needed",
                    f"{qty} units stuck", "Order delay will ruin our event"))
    core = [f"Our order {ref} for {qty} x {item} is delayed and we need it for {event} in "
            f"{days} day{'s' if days > 1 else ''}."]
    details = some(r, ("We paid for express shipping.", "Tracking hasn't updated since Monday.",
                       "We can collect from a depot if that helps.", "If it won't arrive we need "
                       "to find another supplier today."), 0, 2)
    summary = pick(r, (f"Bulk order {ref} ({qty} x {item}) is delayed and needed for "
                       f"{third(event)} in {days} day{'s' if days > 1 else ''}.",
                       f"{who(r, c)}'s delayed order {ref} of {qty} items must arrive within "
                       f"{days} day{'s' if days > 1 else ''} for {third(event)}."))
    ask = pick(r, ("Can you expedite it?", "Please confirm a delivery date today.", None))
    return Draft(subj, core, details, ask, summary, "high", "shipping",
                 fields={"Order number": ref})


# -- feature requests -------------------------------------------------------------------------

FEATURE_WISHES = ("dark mode", "a bulk CSV export", "SAML single sign-on", "a Slack integration",
                  "two-way Google Calendar sync", "bulk editing", "an audit log", "custom roles",
                  "a public API endpoint for reports", "multi-currency support",
                  "keyboard shortcuts", "an offline mode in the app", "Microsoft Teams "
                  "notifications", "webhooks for status changes", "scheduled PDF reports")


def sc_feature(r: R, c: Ctx) -> Draft:
    p = c.product
    wish = pick(r, FEATURE_WISHES)
    renewal = chance(r, 0.2)
    subj = pick(r, (f"Feature request: {wish}", f"Any plans for {wish}?", "Suggestion",
                    f"Would love {wish}", "idea for the product"))
    core = [pick(r, (f"It would be great if {p.name} had {wish}.",
                     f"Are there any plans to add {wish}?",
                     f"Our team keeps asking for {wish} in {p.name}."))]
    if renewal:
        core.append(pick(r, ("Honestly our renewal next quarter depends on it.",
                             "Without it we may have to move to a competitor at renewal.")))
        summary = pick(r, (f"{who(r, c)} requests {wish} and says their renewal depends on it.",
                           f"Feature request for {wish}, flagged as a deciding factor for the "
                           "customer's renewal."))
        urg = "medium"
    else:
        summary = pick(r, (f"{who(r, c)} suggests adding {wish} to {p.name}.",
                           f"Feature request: customer would like {wish}.",
                           f"{who(r, c)} asks whether {wish} is on the roadmap."))
        urg = "low"
    details = some(r, ("We'd happily beta test it.", f"We currently use a workaround with "
                       f"{pick(r, ('Zapier', 'spreadsheets', 'a script'))}.", "Otherwise we "
                       "love the product.", f"About {c.team} people would use it."), 0, 2)
    return Draft(subj, core, details, pick(r, ("Thanks for listening!", None)), summary, urg,
                 "feature_request")


# -- security ---------------------------------------------------------------------------------


def sc_compromise(r: R, c: Ctx) -> Draft:
    p = c.product
    place = pick(r, ("Lagos", "Jakarta", "São Paulo", "Kyiv", "Hanoi", "Bucharest", "Dallas"))
    admin = chance(r, 0.4)
    subj = pick(r, ("Account hacked", "Unauthorised access!!", "Someone logged into our "
                    "account", "Suspicious activity - please lock account", "SECURITY issue"))
    if admin:
        act = pick(r, (f"exported our entire {p.things} and customer list",
                       "created new API keys and changed payout details",
                       "added two unknown admins and downloaded customer data"))
        core = [f"Someone logged into our admin account from {place} overnight and {act}.",
                "None of us did this."]
        urg = "critical"
        summary = pick(r, (f"Attacker accessed the customer's {p.name} admin account from "
                           f"{place} and {third(act)}; suspected data breach.",
                           f"{who(r, c)} reports an admin account takeover from {place} that "
                           f"{third(act)}."))
    else:
        act = pick(r, ("changed my password", "placed an order I didn't make",
                       "changed the recovery email", "sent messages from my account"))
        core = [pick(r, (f"I got an alert about a login from {place} and then someone {act}.",
                         f"My account was accessed from {place} and whoever it was {act}."))]
        urg = "high"
        summary = pick(r, (f"{who(r, c)}'s account was accessed from {place} by someone who "
                           f"{third(act)}; needs securing.",
                           f"Single user account compromise: login from {place}, attacker "
                           f"{third(act)}."))
    details = some(r, ("I've changed my password since.", "2FA was not enabled.",
                       f"It happened around {clock(r, c.when)}.", "Please lock the account."),
                   0, 2)
    return Draft(subj, core, details, pick(r, ("What do we do now?", None)), summary, urg,
                 "security")


def sc_data_exposure(r: R, c: Ctx) -> Draft:
    p = c.product
    what = pick(r, (f"another company's {p.things}", "other customers' names and addresses",
                    "a stranger's invoices and bank details", "someone else's files"))
    subj = pick(r, ("Seeing other customers' data!", "DATA LEAK", "Privacy breach in your app",
                    "I can see someone else's account"))
    core = [pick(r, (f"After logging in this morning I can see {what} in my dashboard.",
                     f"Your {p.name} portal is showing me {what}.")),
            "That means our data is probably visible to others too."]
    details = some(r, ("I took screenshots but haven't shared them.", "I logged out and in "
                       "again, still there.", "Our lawyers will need to know about this."), 0, 2)
    summary = pick(r, (f"{who(r, c)} can see {what} in {p.name}, indicating a cross-account data "
                       "exposure.",
                       f"Data exposure: the customer's {p.name} view shows {what}."))
    return Draft(subj, core, details, "Please investigate immediately.", summary, "critical",
                 "security")


def sc_phishing(r: R, c: Ctx) -> Draft:
    p = c.product
    fake = f"{p.domain.split('.')[0]}-{pick(r, ('billing', 'secure', 'verify', 'support'))}." \
           f"{pick(r, ('com', 'net', 'info', 'co'))}"
    subj = pick(r, ("Phishing email using your name", f"Is {fake} yours?", "Fake email from "
                    f"{p.name}?", "scam email"))
    core = [pick(r, (f"Several of our staff received emails from {fake} asking them to "
                     "re-enter their card details.",
                     f"I got an email that looks like {p.name} but links to {fake} and asks "
                     "for my password."))]
    details = some(r, ("One colleague already clicked the link.", "I've forwarded the email "
                       "headers.", "The logo and footer look exactly like yours."), 0, 2)
    summary = pick(r, (f"{who(r, c)} reports phishing emails impersonating {p.name} from {fake} "
                       "asking for credentials or card details.",
                       f"Phishing campaign via {fake} is impersonating {p.name}."))
    return Draft(subj, core, details, pick(r, ("Can you take it down?", None)), summary, "high",
                 "security")


def sc_vuln(r: R, c: Ctx) -> Draft:
    p = c.product
    vuln = pick(r, ("a stored XSS in the comment field", "an IDOR on the /api/v2/"
                    + p.things + "/{id} endpoint", "an open redirect on the login page",
                    "missing rate limiting on the password reset form"))
    subj = pick(r, ("Security vulnerability report", "Responsible disclosure", "Bug bounty: "
                    "vulnerability found", "Possible security bug"))
    core = [f"While testing our integration I found {vuln} in {p.name}."]
    details = some(r, ("I haven't shared this with anyone.", "Steps to reproduce are below.",
                       "Happy to follow your disclosure policy.", "It looks exploitable "
                       "without authentication."), 1, 2)
    summary = pick(r, (f"{who(r, c)} reports {vuln} in {p.name} via responsible disclosure.",
                       f"Security researcher found {vuln} in {p.name}."))
    return Draft(subj, core, details, pick(r, ("Who should I send details to?", None)), summary,
                 "high", "security")


def sc_leaked_key(r: R, c: Ctx) -> Draft:
    p = c.product
    where = pick(r, ("a public GitHub repo", "a public Postman workspace", "a Stack Overflow "
                     "post", "our public docs site"))
    subj = pick(r, ("Leaked API key", "API key exposed publicly", "Need to revoke a key now",
                    "Accidentally published our secret key"))
    core = [pick(r, (f"A developer accidentally committed our live {p.name} API key to {where}.",
                     f"Our production API key was exposed in {where} for about "
                     f"{r.randint(2, 30)} hours."))]
    details = some(r, ("We don't see misuse yet.", "We can't find how to rotate it in the "
                       "dashboard.", "The key starts with sk_live_" + digits(r, 4) + "."), 1, 2)
    summary = pick(r, (f"{who(r, c)}'s live {p.name} API key was exposed in {third(where)} and "
                       "needs revoking and rotating.",
                       f"Production API key leaked via {third(where)}; customer needs it revoked."))
    return Draft(subj, core, details, "Please revoke it.", summary, "high", "security")


def sc_suspicious_login(r: R, c: Ctx) -> Draft:
    city = pick(r, ("Amsterdam", "Frankfurt", "Madrid", "Dublin", "Warsaw", "Lisbon"))
    subj = pick(r, ("New login alert - was this me?", "Strange login notification",
                    "Login from unknown device?"))
    core = [pick(r, (f"I got a 'new sign-in from {city}' email but I might have been on a VPN.",
                     f"Received a login alert from {city}; nothing looks changed in my "
                     "account."))]
    details = some(r, ("I changed my password just in case.", "Can you tell me which device it "
                       "was?", "Should I be worried?"), 0, 2)
    summary = pick(r, (f"{who(r, c, personal=True)} received a sign-in alert from {city}, sees no changes and "
                       "wants to know if it is suspicious.",
                       f"Unclear login alert from {city}; no signs of misuse, customer wants it "
                       "checked."))
    return Draft(subj, core, details, None, summary, "medium", "security")


def sc_sim_swap(r: R, c: Ctx) -> Draft:
    subj = pick(r, ("SIM swapped without my permission", "My number was stolen", "URGENT phone "
                    "number hijacked", "SIM stopped working - bank codes going elsewhere"))
    core = [pick(r, ("My SIM suddenly lost service and your shop says a replacement SIM was "
                     "issued that I never asked for.",
                     "Someone ported my number to a new SIM without my consent.")),
            pick(r, ("My bank has flagged transfers I didn't make.", "They are receiving my "
                     "bank one-time codes."))]
    details = some(r, ("I have my ID ready.", "I'm calling from my partner's phone.",
                       "Police report filed."), 0, 2)
    summary = pick(r, (f"{who(r, c, personal=True)}'s number was moved to an unauthorised SIM and attackers are "
                       "receiving bank codes.",
                       "Unauthorised SIM swap on the customer's line with fraudulent bank "
                       "activity."))
    return Draft(subj, core, details, "Please block it now.", summary, "critical", "security")


Scenario = Callable[[R, Ctx], Draft]
TT_SCENARIOS: tuple[tuple[Scenario, str, float], ...] = (
    (sc_double_charge, "saas shop telco", 5), (sc_payment_failed, "saas telco", 5),
    (sc_refund_missing, "saas shop", 4), (sc_invoice_admin, "saas telco", 4),
    (sc_charged_after_cancel, "saas telco", 3), (sc_price_question, "saas telco", 3),
    (sc_outage, "saas telco", 5), (sc_api_errors, "saas", 4), (sc_bug, "saas shop telco", 6),
    (sc_howto, "saas telco", 5), (sc_slow, "saas telco", 3), (sc_app_crash, "saas shop telco", 3),
    (sc_reset, "saas shop telco", 4), (sc_admin_lockout, "saas", 3),
    (sc_change_details, "saas shop telco", 4), (sc_data_request, "saas shop telco", 3),
    (sc_not_delivered, "shop telco", 5), (sc_wrong_or_damaged, "shop", 4),
    (sc_address_change, "shop", 3), (sc_eta, "shop", 3), (sc_deadline, "shop", 3),
    (sc_feature, "saas shop telco", 8), (sc_compromise, "saas shop telco", 4),
    (sc_data_exposure, "saas", 2), (sc_phishing, "saas shop telco", 3), (sc_vuln, "saas", 2),
    (sc_leaked_key, "saas", 2), (sc_suspicious_login, "saas shop telco", 3),
    (sc_sim_swap, "telco", 1.5),
)

# -- noise and channel rendering ---------------------------------------------------------------

ABBREV = ((r"\bplease\b", "pls"), (r"\bthanks\b", "thx"), (r"\bas soon as possible\b", "asap"),
          (r"\baccount\b", "acct"), (r"\byou\b", "u"), (r"\bbecause\b", "bc"),
          (r"\binformation\b", "info"), (r"\bdon't\b", "dont"), (r"\bcan't\b", "cant"),
          (r"\bdoesn't\b", "doesnt"), (r"\bI'm\b", "im"), (r"\bwith\b", "w/"))


def typo(r: R, s: str) -> str:
    words = [m for m in re.finditer(r"\b[a-z]{5,}\b", s)]
    if not words:
        return s
    m = pick(r, words)
    w = m.group()
    i = r.randrange(1, len(w) - 1)
    w2 = pick(r, (w[:i] + w[i + 1] + w[i] + w[i + 2:], w[:i] + w[i + 1:], w[:i] + w[i] + w[i:]))
    return s[: m.start()] + w2 + s[m.end():]


def noisify(r: R, sents: list[str], channel: str) -> list[str]:
    out = list(sents)
    if channel == "chat" and chance(r, 0.5):
        out = [s.lower() for s in out]
    if chance(r, 0.35 if channel == "chat" else 0.12):
        for pat, rep in some(r, ABBREV, 1, 3):
            out = [re.sub(pat, rep, s) for s in out]
    for _ in range(wpick(r, ((0, 6.0), (1, 3.0), (2, 1.0)))):
        k = r.randrange(len(out))
        out[k] = typo(r, out[k])
    if chance(r, 0.08 if channel == "email" else 0.15):
        out = [s[:-1] if s.endswith(".") else s for s in out]
    if chance(r, 0.06):
        k = r.randrange(len(out))
        out[k] = out[k].rstrip(".!?") + pick(r, ("!!", "!!!", "??", " :("))
    return out


def assemble(r: R, d: Draft, c: Ctx) -> list[str]:
    details = list(d.details)
    r.shuffle(details)
    mode = wpick(r, (("normal", 55), ("ask_first", 15), ("impact_first", 12), ("terse", 18)))
    opener = [pick(r, OPENERS)] if chance(r, 0.22) and mode != "terse" else []
    ask = [d.ask] if d.ask else []
    if mode == "terse":
        body = d.core + (ask if chance(r, 0.4) else [])
    elif mode == "ask_first" and ask:
        body = d.core[:1] + ask + d.core[1:] + details
    elif mode == "impact_first" and len(d.core) > 1:
        body = d.core[1:] + d.core[:1] + details + ask
    else:
        body = opener + d.core + details + ask
    while len(body) > 6:
        extra = next((x for x in reversed(details) if x in body), None)
        if extra is not None:
            body.remove(extra)
            details.remove(extra)
        else:
            body.pop(0)
    return [s for s in body if s]


GREETINGS = ("Hi,", "Hello,", "Hi team,", "Hello support,", "Dear Support Team,", "Hey there,",
             "Good morning,", "Hallo,", "To whom it may concern,", "Hi {product} team,", "",
             "Bonjour,", "Hi all,")
SIGNOFFS = ("Thanks,", "Best regards,", "Cheers,", "Kind regards,", "Regards,", "Thank you!",
            "Many thanks,", "BR,", "Merci,", "Danke und Grüße,", "Saludos,", "Obrigada,",
            "Pozdrawiam,", "Thanks in advance,", "")
BOT_LINES = ("Thanks for reaching out! Could you describe the problem?",
             "Connecting you to an agent...", "I'm sorry to hear that. Can you tell me more?",
             "An agent will join shortly.", "Got it. Anything else we should know?")


def render_ticket(r: R, d: Draft, c: Ctx) -> str:
    channel = wpick(r, (("email", 40), ("chat", 20), ("form", 25), ("fwd", 15)))
    sents = noisify(r, assemble(r, d, c), channel)
    subject = d.subject if not chance(r, 0.1) else d.subject.lower()
    p = c.product
    if channel == "chat":
        t = c.when - timedelta(minutes=r.randint(1, 20))
        head = pick(r, (f"[Live chat - {p.name} support widget]", f"Chat transcript, started "
                        f"{t:%Y-%m-%d %H:%M} UTC", "--- chat ---", f"Chat #{digits(r, 7)}"))
        lines = [head, f"{pick(r, ('Topic', 'Subject', 'Pre-chat question'))}: {subject}"]
        me = pick(r, (c.first, c.name, "Visitor", "Customer"))
        chunks: list[list[str]] = [[]]
        for s in sents:
            if chunks[-1] and chance(r, 0.55):
                chunks.append([])
            chunks[-1].append(s)
        for i, ch in enumerate(chunks):
            t += timedelta(seconds=r.randint(10, 140))
            lines.append(f"[{t:%H:%M}] {me}: {' '.join(ch)}")
            if d.snippet and i == 0:
                lines.append(d.snippet)
            if i < len(chunks) - 1:
                t += timedelta(seconds=r.randint(5, 40))
                lines.append(f"[{t:%H:%M}] {pick(r, ('Bot', 'Agent Bot', 'Assistant'))}: "
                             f"{pick(r, BOT_LINES)}")
        return "\n".join(lines)
    paras: list[str]
    if len(sents) > 3 and chance(r, 0.5):
        cut = r.randint(1, len(sents) - 1)
        paras = [" ".join(sents[:cut]), " ".join(sents[cut:])]
    else:
        paras = [" ".join(sents)]
    if d.snippet:
        paras.insert(1 if len(paras) > 1 else len(paras), d.snippet)
    if channel == "form":
        title = pick(r, ("[Web form submission]", "New contact form entry", f"{p.name} Help "
                         "Centre - Submit a request", "Form: Contact us"))
        lines = [title, f"{pick(r, ('Subject', 'Summary', 'Title'))}: {subject}",
                 f"{pick(r, ('Name', 'Full name', 'Your name'))}: {c.name}",
                 f"{pick(r, ('Email', 'Your email', 'E-mail'))}: {c.email}"]
        if c.legal and chance(r, 0.7):
            lines.append(f"Company: {c.legal}")
        if chance(r, 0.6):
            lines.append(f"Product: {p.name}{' ' + c.plan if c.plan else ''}")
        for k, v in d.fields.items():
            lines.append(f"{pick(r, (k, 'Order #', 'Order ID'))}: {v}")
        if chance(r, 0.4):
            lines.append(f"Account ID: {pick(r, ('ACC-', 'CUST', ''))}{digits(r, 6)}")
        if chance(r, 0.5):
            lines.append(f"Priority (customer selected): {pick(r, ('Low', 'Normal', 'High', 'Urgent'))}")
        lines.append(pick(r, ("Message:", "Description:", "How can we help?")))
        return "\n".join(lines) + "\n" + "\n\n".join(paras)
    greet = pick(r, GREETINGS).replace("{product}", p.name.split()[0])
    sign = pick(r, SIGNOFFS)
    sig = [c.first if chance(r, 0.4) else c.name]
    if c.legal and chance(r, 0.6):
        sig.append(f"{c.role[0].upper() + c.role[1:]}, {c.legal}" if chance(r, 0.5) else c.legal)
    if chance(r, 0.1):
        sig.append("Sent from my iPhone")
    body = ([greet] if greet else []) + paras + ["\n".join(([sign] if sign else []) + sig)]
    if channel == "email":
        return f"Subject: {subject}\n\n" + "\n\n".join(body)
    fw = pick(r, (f"Forwarding this from our {pick(r, ('sales', 'accounts', 'front desk'))} "
                  "inbox, can someone pick it up?", "FYI - see below.", "Customer below, please "
                  "help.", "Not sure this reached you, forwarding.", ""))
    date = (c.when - timedelta(hours=r.randint(1, 30))).strftime("%a, %d %b %Y at %H:%M")
    hdr = [pick(r, ("---------- Forwarded message ---------", "-----Original Message-----",
                    "Begin forwarded message:")),
           f"From: {c.name} <{c.email}>", f"Date: {date}", f"Subject: {subject}"]
    if chance(r, 0.5):
        hdr.append(f"To: {pick(r, ('support', 'help', 'billing', 'hello'))}@{p.domain}")
    top = f"Subject: {pick(r, ('Fwd: ', 'FW: ', 'Fw: '))}{subject}\n\n" + (fw + "\n\n" if fw
                                                                              else "")
    return top + "\n".join(hdr) + "\n\n" + "\n\n".join(body)


def gen_ticket(r: R) -> tuple[str, dict[str, str]]:
    """One triage example: (ticket text, reference output)."""
    sc, kinds, _w = wpick(r, [((s, k, w), w) for s, k, w in TT_SCENARIOS])
    for _ in range(MAX_TRIES):  # retry within the scenario so its weight is respected
        product = pick(r, [p for p in PRODUCTS if p.kind in kinds.split()])
        c = make_ctx(r, product)
        d = sc(r, c)
        text = render_ticket(r, d, c)
        names = [p.name for p in PRODUCTS] + list(COMPANIES)
        if (one_sentence(d.summary, 30) and grounded(d.summary, text, names)
                and token_bound(text) <= MAX_INPUT_TOKENS["ticket"]):
            assert d.urgency in URGENCIES and d.category in CATEGORIES
            return text, {"summary": d.summary, "urgency": d.urgency, "category": d.category}
    raise RuntimeError("could not generate a grounded ticket")


# --------------------------------------------------------------------------------------------
# domain 2: telecom network alarm summarisation
# --------------------------------------------------------------------------------------------


@dataclass
class Ev:
    t: datetime
    ne: str
    key: str
    sev: str  # critical | major | minor | warning
    state: str = "raised"  # raised | cleared
    obj: str = ""
    info: str = ""


# key: (ENM-like specific problem, ENM probable cause, NetAct-like (no, text), U2020-like (id, name),
#       generic name)
ALARMS: dict[str, tuple[str, str, tuple[int, str], tuple[int, str], str]] = {
    "mains": ("AC Mains Failure", "Power Problem", (7995, "MAINS BREAKDOWN WITH BATTERY BACK-UP"),
              (25622, "Mains Input Out of Range"), "AC mains failure"),
    "batt": ("Battery Discharging", "Power Problem", (7996, "BATTERY DISCHARGING"),
             (25671, "Battery Discharge"), "Battery discharging"),
    "battlow": ("Battery Voltage Low", "Power Problem", (7997, "BATTERY VOLTAGE BELOW THRESHOLD"),
                (25673, "Battery Low Voltage"), "Battery low voltage"),
    "nedown": ("Heartbeat Failure", "Communication Failure", (7650, "BASE STATION FAULTY"),
               (301, "NE Is Disconnected"), "NE unreachable"),
    "cell": ("Service Unavailable", "Service Unavailable", (7653, "CELL FAULTY"),
             (29240, "Cell Unavailable"), "Cell unavailable"),
    "s1": ("S1 Connection Failure", "Communication Failure", (7651, "BASE STATION OPERATION "
           "DEGRADED"), (29201, "S1 Interface Fault"), "S1 link failure"),
    "rfu": ("RF Unit Link Failure", "Equipment Malfunction", (7652, "RADIO MODULE FAULTY"),
            (26235, "RF Unit Maintenance Link Failure"), "Radio unit link failure"),
    "temp": ("Enclosure Temperature High", "Temperature Unacceptable", (7658, "CABINET "
             "TEMPERATURE HIGH"), (25650, "Cabinet Temperature Unacceptable"), "High temperature"),
    "fan": ("Fan Failure", "Cooling Fan Failure", (7659, "FAN FAILURE"), (25670, "Fan Stalled"),
            "Fan failure"),
    "vswr": ("VSWR Over Threshold", "Antenna Problem", (7657, "ANTENNA LINE VSWR ALARM"),
             (26529, "RF Unit VSWR Threshold Crossed"), "VSWR over threshold"),
    "los": ("Loss of Signal", "Loss of Signal", (7665, "TRANSMISSION LINK LOSS OF SIGNAL"),
            (25880, "Ethernet Link Fault"), "Fiber LOS"),
    "clock": ("Sync Reference Lost", "Timing Problem", (7656, "BTS REFERENCE CLOCK MISSING"),
              (26262, "External Clock Reference Problem"), "Clock sync loss"),
    "cpu": ("High CPU Load", "Processor Problem", (7662, "PROCESSOR LOAD HIGH"),
            (26204, "Board CPU Overload"), "High CPU"),
    "lic": ("License Expiry Warning", "Configuration Error", (7666, "LICENCE EXPIRING"),
            (26818, "License Will Expire"), "License expiry"),
    "door": ("Door Open", "Enclosure Door Open", (7670, "DOOR OPEN ALARM"),
             (25683, "Door Status Alarm"), "Cabinet door open"),
    "rect": ("Rectifier Failure", "Power Problem", (7998, "RECTIFIER FAULTY"),
             (25631, "Rectifier Module Fault"), "Rectifier failure"),
    "mw": ("MW Link RSL Below Threshold", "Degraded Signal", (7680, "RADIO LINK DEGRADED"),
           (21350, "Radio Link Signal Degraded"), "Microwave RSL low"),
    "iub": ("NodeB Unavailable", "Communication Failure", (7761, "WCDMA BTS IUB LINK FAILURE"),
            (22202, "NodeB Unavailable"), "Iub link failure"),
}
PLACES = ("Millbrook", "Harbourside", "Ashford North", "Kingsgate", "Riverside Depot",
          "Old Quarry", "Stadium East", "Westmoor", "Cedar Park", "Port Elric", "Lindenhof",
          "Fairhaven", "Greystone Hill", "Marina Bay", "Northgate Mall", "Airport Cargo",
          "Saltmarsh", "Quayside", "Hillcrest", "Elmstead", "Brackenridge", "Osterfeld")
RAN_STYLES = ("enm", "netact", "u2020", "json", "snmp")
IP_STYLES = ("syslog", "snmp", "json")


@dataclass
class Site:
    ne: str
    num: str
    tech: str
    place: str


def ran_site(r: R, tech: str | None = None) -> Site:
    tech = tech or wpick(r, (("LTE", 50), ("NR", 30), ("3G", 12), ("2G", 8)))
    place = pick(r, PLACES)
    tag = re.sub(r"[^A-Z]", "", place.upper())[:4]
    n4 = digits(r, 4)
    ne = {
        "LTE": pick(r, (f"ENB-{n4}", f"eNB{digits(r, 5)}", f"LTE_{tag}_{n4[:3]}",
                        f"ENB-{n4}_{tag}")),
        "NR": pick(r, (f"GNB-{digits(r, 6)}", f"gNB-{n4}", f"NR_{tag}_{n4[:3]}")),
        "3G": pick(r, (f"NB-{n4}", f"NODEB_{tag}{n4[:2]}")),
        "2G": pick(r, (f"BTS-{n4}", f"BTS_{tag}_{n4[:2]}")),
    }[tech]
    return Site(ne, re.sub(r"\D", "", ne) or n4, tech, place)


def cell_names(r: R, s: Site, n: int) -> list[str]:
    band = pick(r, ("L18", "L08", "L26", "N78", "L21", "U21", "G09"))
    style = r.randrange(3)
    out = []
    for k in range(1, n + 1):
        out.append((f"{s.ne}_{band}_{k}", f"{s.ne}-{k}", f"{s.num[-4:]}{'ABCDEF'[k - 1]}")[style])
    return out


def router_name(r: R) -> str:
    c3 = pick(r, ("mlb", "kgt", "hbs", "ash", "wsm", "qsd", "fhv", "grh", "osf", "lnd"))
    return pick(r, (f"pe{r.randint(1, 4)}-{c3}-core", f"agg{r.randint(1, 9)}.{c3}",
                    f"csr-{digits(r, 4)}", f"p{r.randint(1, 6)}.{c3}.bb",
                    f"bng-{digits(r, 2)}-{c3}", f"rr{r.randint(1, 2)}-{c3}"))


def iface(r: R, flavor: str) -> str:
    return {"xr": pick(r, (f"TenGigE0/0/0/{r.randint(0, 23)}", f"HundredGigE0/1/0/{r.randint(0, 7)}")),
            "ios": f"GigabitEthernet0/{r.randint(0, 3)}/{r.randint(0, 11)}",
            "junos": pick(r, (f"xe-0/0/{r.randint(0, 11)}", f"et-1/0/{r.randint(0, 5)}",
                              f"ge-0/0/{r.randint(0, 23)}"))}[flavor]


def hm(t: datetime) -> str:
    return t.strftime("%H:%M")


def dur(a: datetime, b: datetime) -> str:
    m = int((b - a).total_seconds() // 60)
    if m < 90:
        return f"{m} min"
    return f"{m // 60} h {m % 60:02d} min" if m % 60 else f"{m // 60} h"


def cells_phrase(cells: list[str]) -> str:
    if len(cells) == 1:
        return f"cell {cells[0]}"
    if len(cells) <= 3:
        return "cells " + ", ".join(cells[:-1]) + " and " + cells[-1]
    return f"{len(cells)} cells"


def base_time(r: R) -> datetime:
    return datetime(2025, 1, 6) + timedelta(seconds=r.randrange(0, 640 * 86400))


Scn = tuple[list[Ev], str, tuple[str, ...]]


def as_power(r: R) -> Scn:
    s, t0 = ran_site(r), base_time(r)
    variant = wpick(r, (("down", 45), ("battery", 25), ("restored", 30)))
    cells = cell_names(r, s, r.randint(1, 2) if variant == "restored" else r.randint(2, 4))
    t_low = t0 + timedelta(minutes=r.randint(40, 230))
    t_down = t_low + timedelta(minutes=r.randint(4, 35))
    ev = [Ev(t0, s.ne, "mains", "major", info=pick(r, ("Phase L1-L3 lost", "AC input 0 V",
                                                       "Grid supply lost", ""))),
          Ev(t0 + timedelta(seconds=r.randint(20, 90)), s.ne, "batt", "minor",
             info=f"Battery {r.randint(48, 53)}.{r.randint(0, 9)} V")]
    loc = pick(r, (f" ({s.place})", "")) if variant != "battery" else ""
    if variant == "battery":
        if chance(r, 0.6):
            ev.append(Ev(t_low, s.ne, "battlow", "major", info=f"Battery 46.{r.randint(0, 9)} V"))
            summary = pick(r, (
                f"{s.ne} has been running on batteries since {hm(t0)} after an AC mains failure "
                f"and hit low voltage at {hm(t_low)}; no outage yet but the site will drop "
                "without a generator.",
                f"Mains failure at {s.ne} from {hm(t0)}, battery low voltage at {hm(t_low)}, no "
                "traffic impact yet; dispatch a generator before the batteries run out.",
            ))
        else:
            summary = pick(r, (
                f"{s.ne} lost AC mains at {hm(t0)} and is on battery backup with no service "
                "impact so far; likely local power cut, still active.",
                f"Mains power failure at {s.ne} since {hm(t0)}, site running on batteries, no "
                "cells affected yet.",
            ))
        return ev, summary, RAN_STYLES
    if variant == "restored":
        ev.pop()  # keep the block within 8 lines: mains, low voltage, site down, cells, clears
    ev.append(Ev(t_low, s.ne, "battlow", "major", info=f"Battery 45.{r.randint(0, 9)} V"))
    ev.append(Ev(t_down, s.ne, "nedown", "critical"))
    for cl in cells[: r.randint(1, len(cells))] if chance(r, 0.4) else cells:
        ev.append(Ev(t_down + timedelta(seconds=r.randint(1, 40)), s.ne, "cell", "critical",
                     obj=cl))
    ncell = sum(1 for e in ev if e.key == "cell")
    if variant == "down":
        summary = pick(r, (
            f"{s.ne}{loc} lost mains power at {hm(t0)} and ran on battery until {hm(t_down)}, "
            f"when the site went off air with {ncell} cell{'s' * (ncell > 1)} down; likely "
            "commercial power outage, still active.",
            f"Site {s.ne} down since {hm(t_down)} after batteries drained following a mains "
            f"failure at {hm(t0)}; {ncell} cell{'s' * (ncell > 1)} unavailable, power outage "
            "suspected, needs generator or field dispatch.",
            f"Mains failure at {s.ne}{loc} from {hm(t0)} exhausted the batteries and took "
            f"{ncell} cell{'s' * (ncell > 1)} off air at {hm(t_down)}; not yet restored.",
        ))
    else:
        t_back = t_down + timedelta(minutes=r.randint(10, 150))
        ev.append(Ev(t_back, s.ne, "mains", "major", "cleared"))
        ev += [Ev(t_back + timedelta(minutes=r.randint(2, 6)), s.ne, "cell", "critical",
                  "cleared", e.obj) for e in ev if e.key == "cell"]
        summary = pick(r, (
            f"{s.ne}{loc} went down at {hm(t_down)} after a mains failure at {hm(t0)} drained "
            f"the batteries, {ncell} cell{'s' * (ncell > 1)} affected; power returned at "
            f"{hm(t_back)} and the cells recovered.",
            f"Power outage at {s.ne}: mains lost {hm(t0)}, site off air from {hm(t_down)} to "
            f"{hm(t_back)} with {ncell} cell{'s' * (ncell > 1)} down, cleared once mains was "
            "restored.",
        ))
    return ev, summary, RAN_STYLES


def as_cell(r: R) -> Scn:
    s, t0 = ran_site(r), base_time(r)
    cells = cell_names(r, s, r.randint(1, 3))
    cause = wpick(r, (("rfu", 40), ("none", 60)))
    ev: list[Ev] = []
    if cause == "rfu":
        ev.append(Ev(t0 - timedelta(seconds=r.randint(2, 30)), s.ne, "rfu", "major",
                     obj=pick(r, ("RRU-1", "RRU-2", "RU-0-3", "AAU-1", "FRU-12")),
                     info=pick(r, ("CPRI link down", "Optical link lost", ""))))
    for cl in cells:
        ev.append(Ev(t0 + timedelta(seconds=r.randint(0, 20)), s.ne, "cell",
                     pick(r, ("critical", "major")), obj=cl, info=pick(r, ("", "Cell disabled",
                                                                          "Operational state DISABLED"))))
    cleared = chance(r, 0.45)
    t1 = t0 + timedelta(minutes=r.randint(3, 170))
    if cleared:
        ev += [Ev(t1, s.ne, "cell", "critical", "cleared", cl) for cl in cells]
        if cause == "rfu":
            ev.append(Ev(t1 - timedelta(seconds=20), s.ne, "rfu", "major", "cleared", ev[0].obj))
    ru = ev[0].obj if cause == "rfu" else ""
    cz = (pick(r, (f", caused by a link failure to radio unit {ru}",
                   f" after radio unit {ru} lost its link")) if ru else
          pick(r, (", no underlying hardware alarm", ", cause not evident from alarms", "")))
    status = (pick(r, (f"cleared at {hm(t1)} after {dur(t0, t1)}", f"recovered at {hm(t1)}"))
              if cleared else pick(r, ("still active", "not yet cleared, needs investigation")))
    phr = cells_phrase(cells)
    summary = pick(r, (
        f"{phr[0].upper() + phr[1:]} on {s.ne} went unavailable at {hm(t0)}{cz}; {status}.",
        f"{s.ne} lost {phr} at {hm(t0)}{cz}, {status}.",
    ))
    return ev, summary, RAN_STYLES


def as_temp(r: R) -> Scn:
    s, t0 = ran_site(r), base_time(r)
    temp, thr = r.randint(56, 71), pick(r, (50, 55))
    fan = chance(r, 0.55)
    ev: list[Ev] = []
    if fan:
        ev.append(Ev(t0 - timedelta(minutes=r.randint(5, 60)), s.ne, "fan", "major",
                     obj=pick(r, ("FAN-1", "FAN unit 2", "BBU fan", "Cabinet fan 3"))))
    ev.append(Ev(t0, s.ne, "temp", "major", obj=pick(r, ("Cabinet-1", "BBU", "Outdoor cabinet")),
                 info=f"Temp={temp}C threshold={thr}C"))
    shutdown = chance(r, 0.35)
    cells: list[str] = []
    if shutdown:
        cells = cell_names(r, s, r.randint(1, 3))
        ts = t0 + timedelta(minutes=r.randint(5, 40))
        ev += [Ev(ts, s.ne, "cell", "critical", obj=cl, info="Thermal shutdown") for cl in cells]
    cleared = not shutdown and chance(r, 0.4)
    t1 = t0 + timedelta(minutes=r.randint(20, 200))
    if cleared:
        ev.append(Ev(t1, s.ne, "temp", "major", "cleared", ev[-1].obj))
    cz = "fan failure" if fan else pick(r, ("cooling problem", "HVAC fault or hot weather"))
    imp = (f"{len(cells)} cell{'s' * (len(cells) > 1)} shut down on overheating" if shutdown
           else "no service impact yet")
    st = f"cleared at {hm(t1)}" if cleared else "still active"
    summary = pick(r, (
        f"High cabinet temperature ({temp}C, threshold {thr}C) at {s.ne} from {hm(t0)}, likely "
        f"{cz}; {imp}, {st}.",
        f"{s.ne} raised high temperature at {hm(t0)} reaching {temp}C{' after a fan failure' if fan else ''}; "
        f"{imp}, {st}.",
    ))
    return ev, summary, RAN_STYLES


def as_vswr(r: R) -> Scn:
    s, t0 = ran_site(r), base_time(r)
    val = round(r.uniform(1.8, 4.5), 1)
    sector = r.randint(1, 3)
    port = pick(r, (f"RRU-{sector} ANT-A", f"Sector {sector} branch B", f"RU-0-{sector} port 2",
                    f"AntennaPort={sector}"))
    ev = [Ev(t0, s.ne, "vswr", pick(r, ("major", "minor")), obj=port,
             info=f"VSWR={val} threshold=1.5")]
    degraded = chance(r, 0.45)
    cell = cell_names(r, s, 3)[sector - 1]
    if degraded:
        ev.append(Ev(t0 + timedelta(seconds=r.randint(5, 90)), s.ne, "cell", "major", obj=cell,
                     info="Reduced output power"))
    if chance(r, 0.3):
        ev.insert(0, Ev(t0 - timedelta(hours=r.randint(2, 30)), s.ne, "vswr", "minor", obj=port,
                        info=f"VSWR={round(val - 0.4, 1)} threshold=1.5"))
    imp = f"cell {cell} running at reduced power" if degraded else "no cell outage"
    summary = pick(r, (
        f"VSWR of {val} on {s.ne} {port} since {hm(t0)} points to a feeder, jumper or antenna "
        f"fault; {imp}, still active.",
        f"{s.ne} reports VSWR over threshold ({val}) on {port} at {hm(t0)}, likely water ingress "
        f"or a damaged jumper; {imp}.",
    ))
    return ev, summary, RAN_STYLES


def as_transport(r: R) -> Scn:
    hub, t0 = ran_site(r, "LTE"), base_time(r)
    tn = pick(r, (f"TN-{hub.place.split()[0].upper()}-0{r.randint(1, 4)}", f"MLTN-{digits(r, 4)}",
                  f"SWITCH-{digits(r, 3)}"))
    port = pick(r, ("ETH 1/3", "LAN-2", "GE0/1", "Port 4 (SFP)", "NE-1/1/2"))
    sites = [ran_site(r) for _ in range(r.randint(2, 5))]
    ev = [Ev(t0, tn, "los", "critical", obj=port, info=pick(r, ("Rx power -40.0 dBm",
                                                                "No light received", "")))]
    for st in sites:
        ev.append(Ev(t0 + timedelta(seconds=r.randint(3, 50)), st.ne,
                     pick(r, ("nedown", "s1")), "critical"))
    cleared = chance(r, 0.4)
    t1 = t0 + timedelta(minutes=r.randint(30, 300))
    if cleared:
        ev.append(Ev(t1, tn, "los", "critical", "cleared", port))
    n = len(sites)
    names = ", ".join(x.ne for x in sites[:2]) + (f" and {n - 2} more" if n > 2 else "")
    st = f"restored at {hm(t1)}" if cleared else "still down"
    summary = pick(r, (
        f"Fiber LOS on {tn} {port} at {hm(t0)} isolated {n} downstream sites ({names}); probable "
        f"fiber cut on the transport link, {st}.",
        f"{n} sites went unreachable at {hm(t0)} after loss of signal on transport node {tn}; "
        f"likely fiber break, {st}.",
    ))
    return ev, summary, RAN_STYLES


def as_clock(r: R) -> Scn:
    t0 = base_time(r)
    sites = [ran_site(r, pick(r, ("LTE", "NR"))) for _ in range(wpick(r, ((1, 4), (2, 2),
                                                                          (3, 2), (4, 1))))]
    src = pick(r, ("PTP", "GNSS", "SyncE"))
    ev = [Ev(t0 + timedelta(seconds=r.randint(0, 30)), x.ne, "clock", "major",
             obj=pick(r, ("RadioEquipmentClock=1", "SYNC-1", "PTP port 1", "GPS-0")),
             info=f"{src} reference lost, holdover") for x in sites]
    cleared = chance(r, 0.4)
    t1 = t0 + timedelta(minutes=r.randint(15, 240))
    if cleared:
        ev += [Ev(t1, x.ne, "clock", "major", "cleared", e.obj) for x, e in zip(sites, ev,
                                                                              strict=False)]
    st = f"recovered at {hm(t1)}" if cleared else "still in holdover"
    if len(sites) == 1:
        cz = pick(r, ("GPS antenna or cable fault", "local sync input fault"))
        summary = f"{sites[0].ne} lost its {src} clock reference at {hm(t0)} and is in holdover " \
                  f"with no traffic impact yet; likely {cz}, {st}."
    else:
        summary = pick(r, (
            f"{len(sites)} sites ({', '.join(x.ne for x in sites)}) lost {src} sync at {hm(t0)} "
            f"at the same time, pointing to a common grandmaster or transport issue; {st}.",
            f"Simultaneous {src} clock loss on {len(sites)} sites from {hm(t0)}, likely upstream "
            f"timing source problem, risk of interference if holdover expires; {st}.",
        ))
    return ev, summary, RAN_STYLES


def as_rnc(r: R) -> Scn:
    t0 = base_time(r)
    rnc = pick(r, (f"RNC-{pick(r, ('NORTH', 'SOUTH', 'EAST', 'WEST', 'CENTRAL'))}-0{r.randint(1, 4)}",
                   f"RNC{digits(r, 2)}"))
    nbs = [ran_site(r, "3G") for _ in range(r.randint(2, 6))]
    ev = [Ev(t0 + timedelta(seconds=r.randint(0, 25)), rnc, "iub", "critical", obj=x.ne,
             info=f"IubLink={x.num[-3:]}") for x in nbs]
    cleared = chance(r, 0.45) and len(nbs) <= 4
    t1 = t0 + timedelta(minutes=r.randint(6, 120))
    if cleared:
        ev += [Ev(t1, rnc, "iub", "critical", "cleared", x.ne) for x in nbs]
    st = f"all recovered at {hm(t1)}" if cleared else "still unavailable"
    summary = pick(r, (
        f"{rnc} lost Iub to {len(nbs)} NodeBs at {hm(t0)}, taking their 3G cells down; common "
        f"transport path failure likely, {st}.",
        f"{len(nbs)} NodeBs under {rnc} became unavailable together at {hm(t0)}, suggesting a "
        f"shared backhaul fault; {st}.",
    ))
    return ev, summary, ("enm", "u2020", "json", "snmp")


def as_s1core(r: R) -> Scn:
    t0 = base_time(r)
    mme = pick(r, (f"MME-POOL-{r.randint(1, 4)}", f"mme0{r.randint(1, 6)}", f"AMF-{digits(r, 2)}"))
    sites = [ran_site(r, "LTE" if mme.lower().startswith("mme") else "NR")
             for _ in range(r.randint(3, 7))]
    ev = [Ev(t0 + timedelta(seconds=r.randint(0, 40)), x.ne, "s1", "major",
             info=f"{'S1' if mme.lower().startswith('mme') else 'NG'} link to {mme} down")
          for x in sites]
    cleared = chance(r, 0.5) and len(sites) <= 4
    t1 = t0 + timedelta(minutes=r.randint(3, 45))
    if cleared:
        ev += [Ev(t1 + timedelta(seconds=r.randint(0, 30)), x.ne, "s1", "major", "cleared")
               for x in sites[: r.randint(max(1, len(sites) - 2), len(sites))]]
    st = f"links back from {hm(t1)}" if cleared else "still active"
    summary = pick(r, (
        f"{len(sites)} sites raised S1 link failures towards {mme} within a minute of {hm(t0)}, "
        f"so the fault is on the core side rather than the RAN; {st}.",
        f"Core-side issue suspected: {len(sites)} sites lost their S1 connection to {mme} at "
        f"{hm(t0)}, with users on those sites losing data service; {st}.",
    ))
    if not sites[0].ne.startswith(("ENB", "eNB", "LTE")) and "S1" in summary:
        summary = summary.replace("S1", "NG")
    return ev, summary, RAN_STYLES


def as_mw(r: R) -> Scn:
    a, b, t0 = ran_site(r), ran_site(r), base_time(r)
    link = f"MW {a.ne}-{b.ne}"
    rsl = r.randint(-84, -74)
    ev = [Ev(t0, a.ne, "mw", "minor", obj=link, info=f"RSL={rsl} dBm threshold=-72 dBm")]
    if chance(r, 0.5):
        ev.append(Ev(t0 + timedelta(minutes=r.randint(2, 15)), b.ne, "mw", "major", obj=link,
                     info=f"ES={r.randint(30, 400)} SES={r.randint(5, 60)}"))
    dropped = chance(r, 0.35)
    if dropped:
        ev.append(Ev(t0 + timedelta(minutes=r.randint(16, 30)), b.ne, "nedown", "critical"))
    t1 = t0 + timedelta(minutes=r.randint(20, 150))
    cleared = chance(r, 0.6)
    if cleared:
        ev.append(Ev(t1, a.ne, "mw", "minor", "cleared", link))
    imp = f"{b.ne} dropped off the network" if dropped else "traffic errors but no outage"
    st = f"cleared at {hm(t1)}" if cleared else "still degraded"
    summary = pick(r, (
        f"Microwave link {a.ne}-{b.ne} degraded from {hm(t0)} with RSL {rsl} dBm, {imp}; likely "
        f"rain fade, {st}.",
        f"Low receive level ({rsl} dBm) on the {a.ne} to {b.ne} radio link since {hm(t0)}, {imp}; "
        f"weather or misalignment suspected, {st}.",
    ))
    return ev, summary, RAN_STYLES


def as_door(r: R) -> Scn:
    s = ran_site(r)
    t0 = base_time(r).replace(hour=pick(r, (0, 1, 2, 3, 22, 23)))
    ev = [Ev(t0, s.ne, "door", "minor", obj=pick(r, ("Cabinet-1", "Shelter door", "BBU cabinet")))]
    theft = chance(r, 0.4)
    if theft:
        t2 = t0 + timedelta(minutes=r.randint(3, 25))
        ev.append(Ev(t2, s.ne, "mains", "major"))
        ev.append(Ev(t2 + timedelta(seconds=30), s.ne, "batt", "minor"))
        if chance(r, 0.5):
            ev.append(Ev(t2 + timedelta(minutes=r.randint(1, 10)), s.ne, "rect", "major",
                         obj="Rectifier 2"))
        summary = pick(r, (
            f"Door open at {s.ne} at {hm(t0)} followed by mains failure at {hm(t2)}, site now on "
            "battery; possible intrusion or cable theft, security and field team needed.",
            f"Out-of-hours door alarm at {s.ne} ({hm(t0)}) then loss of AC power at {hm(t2)}; "
            "suspected theft or vandalism, site running on batteries.",
        ))
    else:
        t1 = t0 + timedelta(minutes=r.randint(3, 45))
        ev.append(Ev(t1, s.ne, "door", "minor", "cleared", ev[0].obj))
        summary = pick(r, (
            f"Door open alarm at {s.ne} from {hm(t0)} to {hm(t1)} outside working hours with no "
            "service impact; check for a booked visit or intrusion.",
            f"Cabinet door at {s.ne} was opened at {hm(t0)} and closed at {hm(t1)}, no traffic "
            "impact; unscheduled access needs confirming.",
        ))
    return ev, summary, RAN_STYLES


def as_license(r: R) -> Scn:
    s, t0 = ran_site(r), base_time(r)
    days = r.randint(3, 30)
    feat = pick(r, ("Carrier Aggregation", "256QAM DL", "Massive MIMO", "Capacity 300 users",
                    "VoLTE", "NR-DC"))
    ev = [Ev(t0 - timedelta(days=k, minutes=r.randint(0, 3)), s.ne, "lic", "warning",
             obj=f"Feature {feat}", info=f"Expires in {days + k} days")
          for k in range(wpick(r, ((0, 3), (1, 3), (2, 2))), -1, -1)]
    if chance(r, 0.3):
        s2 = ran_site(r)
        ev.append(Ev(t0 + timedelta(minutes=r.randint(1, 20)), s2.ne, "lic", "warning",
                     obj=f"Feature {feat}", info=f"Expires in {days} days"))
    sites = " and ".join(dict.fromkeys(e.ne for e in ev))
    summary = pick(r, (
        f"{feat} license on {sites} expires in {days} days; no impact yet but the feature will be "
        "disabled unless the key file is renewed.",
        f"License expiry warning for {feat} on {sites}, {days} days left, no service impact "
        "today; raise with the licensing team.",
    ))
    return ev, summary, RAN_STYLES


def as_bgp(r: R) -> Scn:
    host, t0 = router_name(r), base_time(r)
    flavor = pick(r, ("xr", "ios", "junos"))
    itf = iface(r, flavor)
    a, b = r.randint(0, 250), r.randint(1, 250)
    peer = pick(r, (f"10.{r.randint(0, 99)}.{a}.{b}", f"172.16.{a}.{b}", f"192.0.2.{b}"))
    asn = r.randint(64512, 65534)
    variant = pick(r, ("link", "holdtime", "flap"))
    ev: list[Ev] = []
    info = f"peer={peer} as={asn} flavor={flavor}"
    if variant == "link":
        ev.append(Ev(t0, host, "ifdown", "major", obj=itf, info=info))
        ev.append(Ev(t0 + timedelta(seconds=r.randint(1, 5)), host, "bgpdown", "major", obj=itf,
                     info=info + " reason=Interface flap"))
        up = chance(r, 0.5)
        t1 = t0 + timedelta(minutes=r.randint(2, 90))
        if up:
            ev.append(Ev(t1, host, "ifup", "major", "cleared", itf, info))
            ev.append(Ev(t1 + timedelta(seconds=r.randint(20, 60)), host, "bgpup", "major",
                         "cleared", itf, info))
        st = f"session re-established at {hm(t1)}" if up else "link still down"
        summary = pick(r, (
            f"BGP session from {host} to {peer} (AS {asn}) dropped at {hm(t0)} because interface "
            f"{itf} went down; {st}.",
            f"{host} {itf} link failure at {hm(t0)} took down the BGP neighbour {peer}, traffic "
            f"rerouted via remaining paths; {st}.",
        ))
    elif variant == "holdtime":
        ev.append(Ev(t0, host, "bgpdown", "major", obj=itf, info=info + " reason=Hold timer expired"))
        if chance(r, 0.5):
            ev.append(Ev(t0 + timedelta(seconds=r.randint(30, 200)), host, "bgpdown", "major",
                         obj=itf, info=info + " reason=Hold timer expired"))
        summary = pick(r, (
            f"BGP neighbour {peer} (AS {asn}) on {host} went down at {hm(t0)} on hold timer "
            "expiry with the interface still up, so the problem is likely on the remote side; "
            "still down.",
            f"{host} lost its BGP peering with {peer} at {hm(t0)} (hold timer expired, no local "
            "link alarm); check the peer router or the path in between.",
        ))
    else:
        n = r.randint(3, 4)
        t = t0
        for _ in range(n):
            ev.append(Ev(t, host, "ifdown", "major", obj=itf, info=info))
            ev.append(Ev(t + timedelta(seconds=2), host, "bgpdown", "major", obj=itf,
                         info=info + " reason=Interface flap"))
            t += timedelta(seconds=r.randint(40, 400))
            ev.append(Ev(t, host, "ifup", "major", "cleared", itf, info))
        ev = ev[:8]
        summary = pick(r, (
            f"Interface {itf} on {host} flapped repeatedly from {hm(t0)}, bouncing the BGP "
            f"session to {peer} each time; suspect a faulty optic or patch lead.",
            f"{host} {itf} is flapping since {hm(t0)} and resetting BGP with {peer} (AS {asn}); "
            "likely physical layer fault, consider dampening or shutting the link.",
        ))
    return ev, summary, IP_STYLES


def as_cpu(r: R) -> Scn:
    host, t0 = router_name(r), base_time(r)
    proc = pick(r, ("bgp_router", "BGP Scanner", "snmpd", "IP Input", "rpd", "ARP Input"))
    step = pick(r, (1, 5, 5, 15))
    samples = [r.randint(86, 99) for _ in range(r.randint(2, 4))]
    pct = max(samples)
    ev = [Ev(t0 + timedelta(minutes=step * i), host, "rcpu", "major", info=f"cpu={v} proc={proc}")
          for i, v in enumerate(samples)]
    cleared = chance(r, 0.55)
    t1 = t0 + timedelta(minutes=r.randint(8, 70))
    if cleared:
        ev.append(Ev(t1, host, "rcpu", "major", "cleared", info=f"cpu={r.randint(20, 45)} "
                                                                 f"proc={proc}"))
    st = f"back to normal at {hm(t1)}" if cleared else "still high"
    summary = pick(r, (
        f"CPU on {host} hit {pct}% at {hm(t0)}, driven by the {proc} process; no outage reported "
        f"but control-plane at risk, {st}.",
        f"High CPU ({pct}%) on {host} from {hm(t0)} with {proc} at the top, possibly a routing "
        f"churn or polling storm; {st}.",
    ))
    return ev, summary, IP_STYLES


def as_psu(r: R) -> Scn:
    host, t0 = router_name(r), base_time(r)
    slot = pick(r, ("PSU 1", "PEM 0", "PEM 2", "Power Module 2", "PS1", "PM0/PT1", "PSU B"))
    model = pick(r, ("PWR-2KW-DC-V2", "A9K-3KW-AC", "JPSU-1600W-AC", "PWR-C1-715WAC",
                     "NCS-PSU-2KW-AC", "PSM-3000-DC"))
    sn = f"{pick(r, ('FOC', 'JAE', 'SAL', '1F0'))}{digits(r, 4)}{pick(r, ('X', 'Z', 'K'))}" \
         f"{r.getrandbits(12):03X}"
    feed = chance(r, 0.45)
    why = f"input {pick(r, ('feed A', 'feed B', 'AC input', 'DC input'))} lost" if feed else \
        pick(r, ("output fault", "module failure", "overtemperature shutdown"))
    info = f"model={model} sn={sn} reason={why.replace(' ', '_')}"
    ev = [Ev(t0, host, "psu", "major", obj=slot, info=info),
          Ev(t0 + timedelta(seconds=r.randint(0, 3)), host, "psured", "minor", obj=slot,
             info=info)]
    if chance(r, 0.4):
        ev.append(Ev(t0 + timedelta(seconds=r.randint(5, 40)), host, "fanr", "minor",
                     obj=pick(r, ("Fan tray 0", "FT1", "FAN-TRAY-2"))))
    if feed and chance(r, 0.5):
        t1 = t0 + timedelta(minutes=r.randint(4, 180))
        ev.append(Ev(t1, host, "psu", "major", "cleared", slot, info))
        summary = pick(r, (
            f"{slot} on {host} lost its {why.split(' lost')[0].replace('input ', '')} supply at "
            f"{hm(t0)}, dropping power redundancy without traffic impact; it recovered at "
            f"{hm(t1)}, likely a tripped breaker or PDU work.",
            f"Power redundancy lost on {host} from {hm(t0)} to {hm(t1)} when {slot} saw its "
            "input feed drop; no service impact, check the site PDU.",
        ))
    elif feed:
        summary = pick(r, (
            f"{slot} ({model}) on {host} has had no input power since {hm(t0)}, so the router "
            "runs without power redundancy but with no traffic impact; likely a tripped breaker "
            "or PDU fault.",
            f"{host} lost power redundancy at {hm(t0)} after {why} on {slot}; no service impact, "
            "site power feed needs checking.",
        ))
    else:
        summary = pick(r, (
            f"{slot} ({model}, SN {sn}) on {host} failed at {hm(t0)} with {why}; the router runs "
            "on the redundant supply with no traffic impact, RMA needed.",
            f"Power supply failure on {host} {slot} at {hm(t0)} ({why}), no service impact "
            "thanks to redundancy; hardware swap needed, still active.",
        ))
    return ev, summary, IP_STYLES


def as_optic(r: R) -> Scn:
    host, t0 = router_name(r), base_time(r)
    flavor = pick(r, ("xr", "junos"))
    itf = iface(r, flavor)
    rx = round(r.uniform(-19.5, -13.0), 1)
    ev = [Ev(t0, host, "optic", "major", obj=itf, info=f"rx={rx} flavor={flavor}")]
    t = t0
    for _ in range(r.randint(1, 3)):
        t += timedelta(seconds=r.randint(20, 600))
        ev.append(Ev(t, host, "ifdown", "major", obj=itf, info=f"flavor={flavor}"))
        t += timedelta(seconds=r.randint(3, 30))
        ev.append(Ev(t, host, "ifup", "major", "cleared", itf, f"flavor={flavor}"))
    summary = pick(r, (
        f"Low optical receive power ({rx} dBm) on {host} {itf} from {hm(t0)} is causing the "
        "link to flap; dirty connector or failing optic likely, needs cleaning or SFP swap.",
        f"{host} {itf} has been bouncing since {hm(t0)} with RX power down to {rx} dBm, pointing "
        "to a fibre or optic fault.",
    ))
    return ev, summary, IP_STYLES


AS_SCENARIOS: tuple[tuple[Callable[[R], Scn], float], ...] = (
    (as_power, 9), (as_cell, 8), (as_temp, 5), (as_vswr, 5), (as_transport, 6), (as_clock, 4),
    (as_rnc, 3), (as_s1core, 4), (as_mw, 4), (as_door, 3), (as_license, 3), (as_bgp, 8),
    (as_cpu, 4), (as_psu, 3), (as_optic, 4),
)

# -- vendor-like renderers --------------------------------------------------------------------

SYSLOG_MSGS = {
    "ifdown": {"xr": "%PKT_INFRA-LINK-3-UPDOWN : Interface {obj}, changed state to Down",
               "ios": "%LINK-3-UPDOWN: Interface {obj}, changed state to down",
               "junos": "mib2d[{pid}]: SNMP_TRAP_LINK_DOWN: ifIndex {idx}, ifAdminStatus up(1), "
                        "ifOperStatus down(2), ifName {obj}"},
    "ifup": {"xr": "%PKT_INFRA-LINK-3-UPDOWN : Interface {obj}, changed state to Up",
             "ios": "%LINK-3-UPDOWN: Interface {obj}, changed state to up",
             "junos": "mib2d[{pid}]: SNMP_TRAP_LINK_UP: ifIndex {idx}, ifAdminStatus up(1), "
                      "ifOperStatus up(1), ifName {obj}"},
    "bgpdown": {"xr": "%ROUTING-BGP-5-ADJCHANGE : neighbor {peer} Down - {reason} (VRF: default) "
                      "(AS: {asn})",
                "ios": "%BGP-5-ADJCHANGE: neighbor {peer} Down {reason}",
                "junos": "rpd[{pid}]: BGP_NEIGHBOR_STATE_CHANGED: BGP peer {peer} (External AS "
                         "{asn}) changed state from Established to Idle (event {reason})"},
    "bgpup": {"xr": "%ROUTING-BGP-5-ADJCHANGE : neighbor {peer} Up (VRF: default) (AS: {asn})",
              "ios": "%BGP-5-ADJCHANGE: neighbor {peer} Up",
              "junos": "rpd[{pid}]: BGP_NEIGHBOR_STATE_CHANGED: BGP peer {peer} (External AS "
                       "{asn}) changed state from OpenConfirm to Established (event RecvKeepAlive)"},
    "rcpu": {"xr": "%OS-SYSMGR-4-CPU_HOG : CPU utilization {cpu}% - top process {proc}",
             "ios": "%SYS-1-CPURISINGTHRESHOLD: Threshold: Total CPU Utilization(Total/Intr): "
                    "{cpu}%/3%, Top 3 processes(Pid/Util): {pid}/{cpu2}%",
             "junos": "kernel: high CPU usage {cpu}% process {proc} ({pid})"},
    "psu": {"xr": "%PLATFORM-PWR_MGMT-2-MODULE_FAILURE : Power Module {obj} ({model}, SN {sn})"
                  " failed: {why}",
            "ios": "%PLATFORM_ENV-1-PWR: {obj} failure, {why} (PID {model} SN {sn})",
            "junos": "chassisd[{pid}]: CHASSISD_FRU_OFFLINE_NOTICE: Taking {obj} offline: {why} "
                     "(model {model}, serial {sn})"},
    "psured": {"xr": "%PLATFORM-PWR_MGMT-3-REDUNDANCY_LOST : Power redundancy lost, {obj} down",
               "ios": "%PLATFORM_ENV-3-PS_REDUNDANCY: Power supply redundancy lost ({obj})",
               "junos": "chassisd[{pid}]: CHASSISD_PSU_REDUNDANCY: Power supply redundancy lost, "
                        "{obj} offline"},
    "fanr": {"xr": "%PLATFORM-ENVMON-3-FAN : {obj} speed below threshold",
             "ios": "%ENVMON-3-FAN_FAILED: {obj} not operating correctly",
             "junos": "chassisd[{pid}]: CHASSISD_FAN_FAILURE: {obj} failed"},
    "optic": {"xr": "%PKT_INFRA-FM-3-FAULT_MAJOR : ALARM_MAJOR :OPTICS RX POWER LOW :DECLARE :"
                    "Optics{port}: rx {rx} dBm",
              "ios": "%SFF8472-3-THRESHOLD_VIOLATION: {obj}: Rx power low alarm; "
                     "Operating value: {rx} dBm",
              "junos": "fpc0 {obj}: Receiver power low alarm set, rx {rx} dBm"},
}
XR_PROCS = (("%PKT_INFRA-LINK", "ifmgr"), ("%ROUTING-BGP", "bgp"), ("%PKT_INFRA-FM", "alarm-logger"),
            ("%PLATFORM", "envmon"), ("%OS-SYSMGR", "sysmgr"), ("%SECURITY", "sshd_child_handler"),
            ("%MGBL", "config"), ("%OS-NTPD", "ntpd"), ("", "syslog_dev"))
SYSLOG_CHATTER = {
    "xr": ("%SECURITY-SSHD-6-INFO_SUCCESS : Successfully authenticated user '{user}' from '{ip}'",
           "%MGBL-CONFIG-6-DB_COMMIT : Configuration committed by user '{user}'.",
           "%OS-NTPD-5-SYNC_LOSS : Synchronization lost : {ip} : The association was removed"),
    "ios": ("%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: {user}] [Source: {ip}]",
            "%SYS-5-CONFIG_I: Configured from console by {user} on vty0 ({ip})",
            "%SSH-5-SSH2_USERAUTH: User '{user}' authentication for SSH2 Session from {ip} "
            "succeeded"),
    "junos": ("sshd[{pid}]: Accepted publickey for {user} from {ip} port 52144 ssh2",
              "mgd[{pid}]: UI_COMMIT: User '{user}' requested 'commit' operation",
              "snmpd[{pid}]: SNMPD_AUTH_FAILURE: nsa_log_community: unauthorized SNMP community "
              "from {ip}"),
}
ROUTER_TRAPS = {"ifdown": "IF-MIB::linkDown", "ifup": "IF-MIB::linkUp",
                "bgpdown": "BGP4-MIB::bgpBackwardTransition", "bgpup": "BGP4-MIB::bgpEstablished",
                "rcpu": "CISCO-PROCESS-MIB::cpmCPURisingThreshold",
                "psu": "CISCO-ENVMON-MIB::ciscoEnvMonSupplyStatusChangeNotif",
                "fanr": "CISCO-ENVMON-MIB::ciscoEnvMonFanNotification",
                "psured": "CISCO-ENVMON-MIB::ciscoEnvMonRedundantSupplyNotification",
                "optic": "ENTITY-SENSOR-MIB::entSensorThresholdNotification"}
GENERIC_ROUTER = {"ifdown": "Interface down", "ifup": "Interface up", "bgpdown":
                  "BGP neighbour down", "bgpup": "BGP neighbour up", "rcpu": "High CPU", "psu":
                  "Power supply failure", "psured": "Power redundancy lost", "fanr": "Fan tray fault", "optic": "Optical RX power low"}


def kv(info: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in info.split() if "=" in p)


def router_text(ev: Ev, flavor: str, r: R) -> str:
    d = kv(ev.info)
    reason = ev.info.split("reason=")[1] if "reason=" in ev.info else "Interface flap"
    if flavor == "junos":
        reason = {"Interface flap": "LinkDown", "Hold timer expired": "HoldTime"}.get(reason, reason)
    return SYSLOG_MSGS[ev.key][flavor].format(
        obj=ev.obj, peer=d.get("peer", ""), asn=d.get("as", ""), reason=reason,
        pid=r.randint(1200, 9800), idx=r.randint(500, 620), cpu=d.get("cpu", ""),
        cpu2=max(1, int(d.get("cpu", "60") or 60) - 30), proc=d.get("proc", ""),
        rx=d.get("rx", ""), model=d.get("model", ""), sn=d.get("sn", ""),
        why=d.get("reason", "failed").replace("_", " "), port=ev.obj.split("E")[-1] if "E" in ev.obj else ev.obj)


def ts_fmt(t: datetime, kind: str) -> str:
    return {"iso": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "sp": t.strftime("%Y-%m-%d %H:%M:%S"),
            "eu": t.strftime("%d.%m.%Y %H:%M:%S"), "sys": t.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
            }[kind]


def render_alarms(r: R, events: list[Ev], style: str) -> str:
    evs = sorted(events, key=lambda e: (e.t, e.ne, e.key))
    if style in ("enm", "netact", "u2020") and chance(r, 0.35):
        evs.reverse()  # alarm lists are often shown newest first
    lines: list[str] = []
    sub = r.randrange(2)
    if style == "enm":
        sep = pick(r, (",", ";", "\t"))
        if sub == 0:
            if chance(r, 0.6):
                lines.append(sep.join(("AlarmId", "NodeName", "Severity", "SpecificProblem",
                                       "EventTime", "ObjectOfReference", "ProbableCause",
                                       "AdditionalText", "RecordType")))
            for e in evs:
                a = ALARMS[e.key]
                oor = f"ManagedElement={e.ne}" + (f",{pick(r, ('EUtranCellFDD', 'NRCellDU', 'FieldReplaceableUnit'))}={e.obj}"
                                                  if e.obj and e.key == "cell" else
                                                  (f",Equipment=1,{e.obj}" if e.obj else ""))
                lines.append(sep.join((digits(r, 6), e.ne,
                                       e.sev.upper() if e.state == "raised" else "CLEARED",
                                       a[0], ts_fmt(e.t, "sp"), oor, a[1],
                                       f'"{e.info}"' if sep == "," and e.info else e.info,
                                       "ALARM" if e.state == "raised" else "CLEARED")))
        else:
            for e in evs:
                a = ALARMS[e.key]
                extra = f" [{e.obj}]" if e.obj else ""
                extra += f" {e.info}" if e.info else ""
                lines.append(f"{ts_fmt(e.t, 'sp')}  {(e.sev.upper() if e.state == 'raised' else 'CLEARED'):<8} "
                             f"{e.ne:<16} {a[0]}{extra}")
    elif style == "netact":
        stars = {"critical": "***", "major": "**", "minor": "*", "warning": "w"}
        for e in evs:
            no, text = ALARMS[e.key][2]
            mr = re.sub(r"\D", "", e.ne)[-6:] or digits(r, 6)
            dn = f"PLMN-PLMN/MRBTS-{mr}" + (f"/LNCEL-{e.obj}" if e.key == "cell" else
                                            (f"/{e.obj}" if e.obj else ""))
            note = "ALARM" if e.state == "raised" else "CANCEL"
            if sub == 0:
                lines.append(f"{ts_fmt(e.t, 'eu')}  {stars[e.sev]:<3} {no} {text}  {dn} ({e.ne})"
                             f"  id={digits(r, 7)}"
                             f"{'  ' + e.info if e.info else ''}  {note}")
            else:
                lines.append(f"| {ts_fmt(e.t, 'sp')} | {e.sev.upper()} | {no} | {text} | {e.ne} | "
                             f"{dn} | {e.info or '-'} | "
                             f"{'ALARM STARTED' if note == 'ALARM' else 'CANCELLED'} |")
    elif style == "u2020":
        sub = r.randrange(3)
        if sub == 1 and chance(r, 0.6):
            lines.append("Severity,Alarm ID,Name,NE Name,Occurred On,Cleared On,Location Information")
        for e in evs:
            aid, name = ALARMS[e.key][3]
            loc = ", ".join(x for x in (e.obj and f"Object={e.obj}", e.info) if x) or "-"
            occ = ts_fmt(e.t, "sp")
            if sub == 0:
                sn = digits(r, 5)
                cl = f"Cleared={occ}  " if e.state == "cleared" else "Cleared=-  "
                lines.append(f"Serial No.={sn}  Severity={e.sev.capitalize()}  Alarm ID={aid}  "
                             f"Name={name}  NE={e.ne}  Occurred={occ if e.state == 'raised' else '-'}  "
                             f"{cl}Location Info={loc}")
            elif sub == 2:
                lines.append(f"{occ}  {e.ne:<15} ALM-{aid} {name}  {e.sev.capitalize():<8} "
                             f"{'Active' if e.state == 'raised' else 'Cleared'}"
                             f"{'  ' + loc if loc != '-' else ''}")
            else:
                lines.append(",".join((e.sev.capitalize(), str(aid), name, e.ne,
                                       occ if e.state == "raised" else "", occ if e.state ==
                                       "cleared" else "", f'"{loc}"')))
    elif style == "json":
        scheme = r.randrange(5)
        seps = pick(r, ((", ", ": "), (",", ":")))
        prints: dict[tuple[str, str, str], str] = {}
        for e in evs:
            name = GENERIC_ROUTER.get(e.key) or ALARMS[e.key][4]
            info = re.sub(r"\s*flavor=\w+", "", e.info)
            up = e.state == "raised"
            d: dict[str, object]
            if scheme == 0:
                d = {"ts": ts_fmt(e.t, "iso"), "ne": e.ne, "severity": e.sev, "alarm": name,
                     "state": e.state}
                d.update({k: v for k, v in (("object", e.obj), ("info", info)) if v})
            elif scheme == 1:  # TMF642-like
                d = {"id": f"{digits(r, 8)}-{r.getrandbits(32):08x}",
                     "alarmRaisedTime" if up else "alarmClearedTime": ts_fmt(e.t, "iso"),
                     "alarmedObject": {"id": e.ne, **({"component": e.obj} if e.obj else {})},
                     "perceivedSeverity": e.sev.upper() if up else "CLEARED",
                     "specificProblem": name, "state": "raised" if up else "cleared"}
                if info:
                    d["alarmDetails"] = info
            elif scheme == 2:
                d = {"@timestamp": ts_fmt(e.t, "iso"), "host": e.ne, "event": name,
                     "status": "open" if up else "closed",
                     "sev": {"critical": "CRIT", "major": "MAJ", "minor": "MIN"}.get(e.sev, "WARN"),
                     "seq": r.randint(10000, 999999)}
                d.update({k: v for k, v in (("resource", e.obj), ("detail", info)) if v})
            elif scheme == 3:  # VES-like fault event
                d = {"event": {"commonEventHeader": {
                    "domain": "fault", "sourceName": e.ne, "eventId": f"fault{digits(r, 9)}",
                    "lastEpochMicrosec": int(e.t.timestamp()) * 1_000_000},
                    "faultFields": {"alarmCondition": name.replace(" ", ""),
                                    "eventSeverity": e.sev.upper() if up else "NORMAL",
                                    "vfStatus": "Active" if up else "Idle",
                                    **({"alarmInterfaceA": e.obj} if e.obj else {}),
                                    **({"specificProblem": info} if info else {})}}}
            else:  # Alertmanager-like
                d = {"status": "firing" if up else "resolved",
                     "labels": {"alertname": re.sub(r"[^A-Za-z0-9]", "", name.title()),
                                "instance": e.ne, "severity": e.sev,
                                **({"target": e.obj} if e.obj else {})},
                     "startsAt" if up else "endsAt": ts_fmt(e.t, "iso"),
                     "fingerprint": prints.setdefault((e.ne, e.key, e.obj),
                                                      f"{r.getrandbits(64):016x}")}
                if info:
                    d["annotations"] = {"description": info}
            lines.append(json.dumps(d, ensure_ascii=False, separators=seps))
    elif style == "snmp":
        agents: dict[str, str] = {}
        ifindex: dict[tuple[str, str], int] = {}
        mib = pick(r, ("NOC-ALARM-MIB", "RAN-FM-MIB", "X733-ALARM-MIB", "SITE-MGMT-MIB"))
        sub = r.randrange(3)
        for e in evs:
            agent = agents.setdefault(e.ne, f"10.{r.randint(1, 200)}.{r.randint(0, 255)}."
                                            f"{r.randint(1, 254)}")
            up = e.state == "raised" and e.key != "ifup"
            if e.key in ROUTER_TRAPS:
                d = kv(e.info)
                trap = ROUTER_TRAPS[e.key]
                vbs = [("sysName.0", "STRING", e.ne)]
                if e.key in ("ifdown", "ifup", "optic"):
                    idx = ifindex.setdefault((e.ne, e.obj), r.randint(3, 600))
                    vbs.append((f"ifDescr.{idx}", "STRING", e.obj))
                if "peer" in d:
                    vbs += [("bgpPeerRemoteAddr", "IpAddress", d["peer"]),
                            ("bgpPeerRemoteAs", "INTEGER", d["as"])]
                    if "Hold timer" in e.info:
                        vbs.append(("bgpPeerLastError", "Hex-STRING", "04 00 (Hold Timer Expired)"))
                    elif e.key == "bgpdown":
                        vbs.append(("bgpPeerState", "INTEGER", "idle(1)"))
                if "cpu" in d:
                    vbs += [("cpmCPUTotal5minRev", "Gauge32", d["cpu"]),
                            ("cpmProcessName", "STRING", d["proc"])]
                if "rx" in d:
                    vbs.append(("entSensorValue", "INTEGER", f"{d['rx']} dBm"))
                if e.key in ("psu", "fanr", "psured"):
                    vbs.append(("entPhysicalName", "STRING", e.obj))
                if "model" in d:
                    vbs += [("entPhysicalModelName", "STRING", d["model"]),
                            ("entPhysicalSerialNum", "STRING", d["sn"]),
                            ("ciscoEnvMonSupplyState", "INTEGER",
                             "critical(3)" if e.state == "raised" else "normal(1)")]
                text = GENERIC_ROUTER[e.key]
            else:
                trap = f"{mib}::{'alarmRaised' if up else 'alarmCleared'}"
                sevn = {"critical": 3, "major": 4, "minor": 5, "warning": 6}[e.sev]
                vbs = [("alarmNe", "STRING", e.ne), ("alarmName", "STRING", ALARMS[e.key][4]),
                       ("alarmSeverity", "INTEGER", f"{e.sev}({sevn})")]
                vbs += [(k, "STRING", v) for k, v in (("alarmObject", e.obj),
                                                      ("alarmText", e.info)) if v]
                text = ALARMS[e.key][4]
            if sub == 0:  # snmptrapd default format
                vb = "\t".join(f"{k} = {t}: {v}" for k, t, v in vbs)
                lines.append(f"{ts_fmt(e.t, 'sp')} {agent} [UDP: [{agent}]:{r.randint(1024, 65000)}"
                             f"->[10.0.0.5]:162]: snmpTrapOID.0 = OID: {trap}\t{vb}")
            elif sub == 1:  # compact
                vb = " ".join(f"{k.split('.')[0]}={v}" for k, _, v in vbs[1:])
                lines.append(f"{ts_fmt(e.t, 'sp')} <{agent}> TRAP {trap.split('::')[-1]} "
                             f"{e.ne} {vb}")
            else:  # snmptt-formatted
                extra = " ".join(v for _, _, v in vbs[3:] if v) if e.key not in ROUTER_TRAPS \
                    else " ".join(v for _, _, v in vbs[1:])
                lines.append(f"{e.t:%a %b %d %H:%M:%S %Y} {trap.split('::')[-1]} "
                             f"{e.sev.capitalize() if up else 'Normal'} "
                             f'"{"Status Events" if e.key in ROUTER_TRAPS else "Alarms"}" {e.ne} - '
                             f"{'raised' if up else 'cleared'}: {text} {extra}".rstrip())
    else:  # syslog
        pfx = r.randrange(3)
        seq = r.randint(1000, 900000)
        flavor0 = next((kv(e.info)["flavor"] for e in evs if "flavor" in e.info),
                       pick(r, ("xr", "ios", "junos")))
        if chance(r, 0.35):  # benign chatter that real router logs are full of
            t = evs[0].t - timedelta(seconds=r.randint(30, 3000))
            chatter = pick(r, SYSLOG_CHATTER[flavor0]).format(
                ip=f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                user=pick(r, ("noc-ro", "jdoe", "netops", "oxidized", "ansible")),
                pid=r.randint(1000, 9999))
            evs = sorted(evs + [Ev(t, evs[0].ne, "chatter", "minor", info=chatter)],
                         key=lambda e: e.t)
        for e in evs:
            flavor = kv(e.info).get("flavor") or flavor0
            msg = e.info if e.key == "chatter" else router_text(e, flavor, r)
            if flavor == "xr":
                seq += r.randint(1, 40)
                proc = next(v for k, v in XR_PROCS if msg.startswith(k))
                msg = f"RP/0/RSP{r.randint(0, 1)}/CPU0:{e.t:%b %d %H:%M:%S}.{digits(r, 3)} UTC: " \
                      f"{proc}[{r.randint(100, 1200)}]: {msg}"
            elif flavor == "ios":
                seq += r.randint(1, 40)
                msg = f"{seq:06d}: {e.t:%b %d %H:%M:%S}.{digits(r, 3)}: {msg}"
            if pfx == 0:
                lines.append(f"{ts_fmt(e.t, 'sys')} {e.ne} {msg}")
            elif pfx == 1:
                lines.append(f"{e.t:%Y-%m-%dT%H:%M:%S}.{digits(r, 3)}+00:00 {e.ne} {msg}")
            else:
                lines.append(f"<{r.randint(160, 190)}>{ts_fmt(e.t, 'sys')} {e.ne} {msg}")
    if chance(r, 0.15) and style in ("enm", "u2020", "netact", "syslog"):
        hdr = pick(r, ("# active alarms export", "--- alarm list, last 6 h ---",
                       "show logging | include LINK|BGP|ENV|CPU" if style == "syslog" else
                       "# filter: severity >= minor"))
        lines.insert(0, hdr)
    return "\n".join(lines[:9])


def background_event(r: R, events: list[Ev]) -> Ev:
    """An unrelated low-severity alarm elsewhere, as NOC alarm views always show some."""
    other = ran_site(r)
    t = min(e.t for e in events) + timedelta(minutes=r.randint(-90, 90))
    key, sev, obj, info = pick(r, (
        ("door", "minor", "Cabinet-1", ""), ("lic", "warning", "Feature VoLTE",
                                              f"Expires in {r.randint(40, 90)} days"),
        ("temp", "minor", "Outdoor cabinet", f"Temp={r.randint(46, 52)}C threshold=45C"),
        ("fan", "minor", "FAN-2", ""), ("rect", "minor", f"Rectifier {r.randint(1, 4)}", "")))
    return Ev(t, other.ne, key, sev, pick(r, ("raised", "cleared")), obj, info)


def gen_alarm(r: R) -> tuple[str, str]:
    sc = wpick(r, AS_SCENARIOS)
    for _ in range(MAX_TRIES):  # retry within the scenario so its weight is respected
        events, summary, styles = sc(r)
        if styles == RAN_STYLES and len(events) < 8 and chance(r, 0.2):
            events.append(background_event(r, events))
        if not 1 <= len(events) <= 8:
            continue
        text = render_alarms(r, events, pick(r, styles))
        if (one_sentence(summary, 40) and grounded(summary, text, ())
                and token_bound(text) <= MAX_INPUT_TOKENS["alarms"]):
            return text, summary
    raise RuntimeError("could not generate a grounded alarm example")


# --------------------------------------------------------------------------------------------
# similarity checks (datasketch MinHash + MinHashLSH)
# --------------------------------------------------------------------------------------------


def minhash(sh: set[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM)
    m.update_batch([s.encode("utf-8") for s in sorted(sh)])
    return m


class SimIndex:
    """LSH index over 5-character shingle MinHashes; answers 'most similar indexed key'."""

    def __init__(self) -> None:
        self.lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self.mh: dict[str, MinHash] = {}
        self.sh: dict[str, set[str]] = {}

    def add(self, key: str, sh: set[str], mh: MinHash) -> None:
        self.lsh.insert(key, mh)
        self.mh[key], self.sh[key] = mh, sh

    def best(self, mh: MinHash, skip: frozenset[str] = frozenset()) -> tuple[float, str | None]:
        hits = sorted((-mh.jaccard(self.mh[k]), k) for k in self.lsh.query(mh) if k not in skip)
        return (-hits[0][0], hits[0][1]) if hits else (0.0, None)


def exact_jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class Pool:
    """Accepted training records of one domain with their similarity indexes."""

    full: SimIndex = field(default_factory=SimIndex)
    inp: SimIndex = field(default_factory=SimIndex)
    outputs: dict[str, str] = field(default_factory=dict)  # normalised input -> output
    rejected: int = 0

    def try_add(self, key: str, inp: str, full_text: str, out: str) -> bool:
        n = normalize(inp)
        if n in self.outputs:
            self.rejected += 1
            return False
        fsh = shingles(full_text)
        fmh = minhash(fsh)
        if self.full.best(fmh)[0] >= NEAR_DUP:
            self.rejected += 1
            return False
        ish = shingles(inp)
        self.full.add(key, fsh, fmh)
        self.inp.add(key, ish, minhash(ish))
        self.outputs[n] = out
        return True


def gen_golden(r: R, n: int, prefix: str, train: Pool, make: Callable[[R], tuple[str, T]],
               as_input: Callable[[str], str]) -> tuple[list[tuple[str, str, T]], int]:
    """Golden items whose input stays below LEAK_MAX vs training and NEAR_DUP vs each other."""
    gold = SimIndex()
    out: list[tuple[str, str, T]] = []
    rejected = 0
    while len(out) < n:
        for _ in range(MAX_TRIES):
            text, ref = make(r)
            inp = as_input(text)
            sh = shingles(inp)
            mh = minhash(sh)
            if (normalize(inp) not in train.outputs and train.inp.best(mh)[0] < LEAK_MAX
                    and gold.best(mh)[0] < NEAR_DUP
                    and max(exact_jaccard(sh, t) for t in train.inp.sh.values()) < LEAK_MAX):
                break
            rejected += 1
        else:
            raise SystemExit(f"error: could not draw a non-leaking golden item for {prefix}")
        key = f"{prefix}{len(out) + 1:03d}"
        gold.add(key, sh, mh)
        out.append((key, text, ref))
    return out, rejected


# --------------------------------------------------------------------------------------------
# deliberate duplicates for the triage training file
# --------------------------------------------------------------------------------------------

SWAPS = {"please": "kindly", "problem": "issue", "issue": "problem", "today": "this morning",
         "again": "once more", "really": "truly", "still": "yet", "customer": "client",
         "error": "failure", "working": "functioning", "help": "assist", "order": "purchase",
         "account": "profile", "think": "believe", "thanks": "cheers", "also": "as well",
         "can't": "cannot", "urgent": "pressing", "email": "mail", "every": "each"}


def exact_dup(r: R, text: str) -> str:
    variant = r.randrange(3)
    if variant == 0:
        lines = text.split("\n")
        return "\n".join(ln.upper() if i == 0 else ln + "  " for i, ln in enumerate(lines)) + "\n"
    if variant == 1:
        return "  " + re.sub(r" ", "  ", text, count=6).replace("\n\n", "\n\n\n").lower()
    return re.sub(r"\n+", "\n", text).replace(". ", ".\t", 3) + " "


def near_dup(r: R, text: str) -> str | None:
    spots = [m for m in re.finditer(r"(?<![@.])\b[a-z']+\b(?![@.]\w)", text)
             if m.group() in SWAPS]
    if len(spots) < 2:
        return None
    chosen = sorted(r.sample(spots, 2), key=lambda m: m.start(), reverse=True)
    for m in chosen:
        text = text[: m.start()] + SWAPS[m.group()] + text[m.end():]
    return text


# --------------------------------------------------------------------------------------------
# build + verify + write
# --------------------------------------------------------------------------------------------


def tt_full(user: str, assistant: str) -> str:
    return "\n".join((TT_SYSTEM, user, assistant))


def tt_record(key: str, user: str, assistant: str) -> dict[str, object]:
    return {"id": key, "messages": [{"role": "system", "content": TT_SYSTEM},
                                    {"role": "user", "content": user},
                                    {"role": "assistant", "content": assistant}]}


def build_triage(seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, float]]:
    r = random.Random(f"{seed}:ticket-triage:train")
    pool = Pool()
    train: list[tuple[str, str, str]] = []  # id, user, assistant
    while len(train) < N_TT_TRAIN:
        text, ref = gen_ticket(r)
        key = f"tt-{len(train) + 1:04d}"
        out = json.dumps(ref, ensure_ascii=False)
        if pool.try_add(key, text, tt_full(text, out), out):
            train.append((key, text, out))
    # 4 exact + 4 near duplicates of earlier records, appended at the end
    rd = random.Random(f"{seed}:ticket-triage:dups")
    used: set[int] = set()
    extra: list[tuple[str, str, str]] = []
    while len(extra) < 8:
        i = rd.randrange(len(train))
        if i in used or len(train[i][1]) < 350:
            continue
        _, text, out = train[i]
        if len(extra) < 4:
            dup = exact_dup(rd, text)
            ok = normalize(dup) == normalize(text) and dup != text
        else:
            cand = near_dup(rd, text)
            if cand is None:
                continue
            dup = cand
            ok = (normalize(dup) != normalize(text)
                  and exact_jaccard(shingles(tt_full(dup, out)), shingles(tt_full(text, out)))
                  >= PLANTED_NEAR_DUP
                  and exact_jaccard(shingles(dup), shingles(text)) >= PLANTED_NEAR_DUP)
        if ok:
            used.add(i)
            key = f"tt-{len(train) + len(extra) + 1:04d}"
            extra.append((key, dup, out))
            pool.inp.add(key, shingles(dup), minhash(shingles(dup)))
    rg = random.Random(f"{seed}:ticket-triage:golden")
    gold, g_rej = gen_golden(rg, N_TT_GOLDEN, "tt-g-", pool, gen_ticket, lambda t: t)
    stats = {"train_rejected": pool.rejected, "golden_rejected": g_rej}
    stats.update(verify(pool, [(k, t) for k, t, _ in gold], lambda t: t, "ticket_triage",
                        dup_keys={k for k, _, _ in extra}))
    train_recs = [tt_record(k, u, a) for k, u, a in train + extra]
    gold_recs: list[dict[str, object]] = [{"id": k, "ticket": t, "reference": ref}
                                          for k, t, ref in gold]
    return train_recs, gold_recs, stats


def as_input(alarms: str) -> str:
    return AS_INSTRUCTION + "\n\n" + alarms


def build_alarms(seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]],
                                     list[dict[str, object]], dict[str, float]]:
    pool = Pool()
    alpaca: list[dict[str, object]] = []
    noc: list[dict[str, object]] = []
    for stream, n, sink in (("alpaca", N_AS_ALPACA, alpaca), ("noc", N_AS_NOC, noc)):
        r = random.Random(f"{seed}:alarm-summary:{stream}")
        while len(sink) < n:
            text, summary = gen_alarm(r)
            key = f"{'as' if stream == 'alpaca' else 'asn'}-{len(sink) + 1:04d}"
            if pool.try_add(key, as_input(text), as_input(text) + "\n" + summary, summary):
                if stream == "alpaca":
                    sink.append({"id": key, "instruction": AS_INSTRUCTION, "input": text,
                                 "output": summary})
                else:
                    sink.append({"id": key, "prompt": as_input(text), "completion": summary})
    rg = random.Random(f"{seed}:alarm-summary:golden")
    gold, g_rej = gen_golden(rg, N_AS_GOLDEN, "as-g-", pool, gen_alarm, as_input)
    stats = {"train_rejected": pool.rejected, "golden_rejected": g_rej}
    stats.update(verify(pool, [(k, t) for k, t, _ in gold], as_input, "alarm_summary",
                        dup_keys=set()))
    gold_recs: list[dict[str, object]] = [{"id": k, "alarms": t, "reference": ref}
                                          for k, t, ref in gold]
    return alpaca, noc, gold_recs, stats


def verify(pool: Pool, gold: list[tuple[str, str]], as_inp: Callable[[str], str], name: str,
           dup_keys: set[str]) -> dict[str, float]:
    """Final pass: LSH-estimated and exact max Jaccard golden-vs-train and within train."""
    est_max, exact_max = 0.0, 0.0
    gsh = [shingles(as_inp(t)) for _, t in gold]
    for (gk, _), sh in zip(gold, gsh, strict=True):
        est, _k = pool.inp.best(minhash(sh))
        est_max = max(est_max, est)
        if est >= LEAK_MAX:
            raise SystemExit(f"error: {name} golden item {gk} leaks into training "
                             f"(estimated Jaccard {est:.2f} >= {LEAK_MAX})")
        for tsh in pool.inp.sh.values():
            j = exact_jaccard(sh, tsh)
            if j > exact_max:
                exact_max = j
    if exact_max >= LEAK_MAX:
        raise SystemExit(f"error: {name} golden set overlaps training (exact Jaccard "
                         f"{exact_max:.2f} >= {LEAK_MAX})")
    within = 0.0
    for k, mh in pool.full.mh.items():
        within = max(within, pool.full.best(mh, skip=frozenset({k}))[0])
    if within >= NEAR_DUP:
        raise SystemExit(f"error: {name} training holds an unplanned near-duplicate "
                         f"(estimated Jaccard {within:.2f})")
    return {"cross_split_max_estimated": est_max, "cross_split_max_exact": exact_max,
            "train_within_max_estimated": within, "deliberate_dups": len(dup_keys)}


def write_jsonl(path: Path, records: list[dict[str, object]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return str(path)


def check_records(train: list[dict[str, object]], gold: list[dict[str, object]]) -> None:
    for rec in train:
        msgs = rec["messages"]
        assert isinstance(msgs, list)
        out = json.loads(msgs[2]["content"])
        assert list(out) == ["summary", "urgency", "category"], rec["id"]
        assert out["urgency"] in URGENCIES and out["category"] in CATEGORIES, rec["id"]
        assert one_sentence(out["summary"], 30), (rec["id"], out["summary"])
    for g in gold:
        ref = g["reference"]
        assert isinstance(ref, dict) and one_sentence(ref["summary"], 30), g["id"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master seed (default %(default)s)")
    ap.add_argument("--out-root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="repository root to write data/raw and golden_sets under")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tt_train, tt_gold, tt_stats = build_triage(args.seed)
    check_records(tt_train, tt_gold)
    as_alpaca, as_noc, as_gold, as_stats = build_alarms(args.seed)
    for rec in as_alpaca + as_noc:
        out = rec.get("output", rec.get("completion"))
        assert isinstance(out, str) and one_sentence(out, 40), rec["id"]
    root: Path = args.out_root
    files = [
        (root / "data/raw/ticket_triage.jsonl", tt_train),
        (root / "golden_sets/ticket_triage.jsonl", tt_gold),
        (root / "data/raw/alarm_summary.jsonl", as_alpaca),
        (root / "data/raw/alarm_summary_noc.jsonl", as_noc),
        (root / "golden_sets/alarm_summary.jsonl", as_gold),
    ]
    for path, recs in files:
        write_jsonl(path, recs)
        print(f"wrote {len(recs):4d} records -> {path.relative_to(root) if path.is_relative_to(root) else path}")
    for name, st in (("ticket_triage", tt_stats), ("alarm_summary", as_stats)):
        print(f"{name}: golden-vs-train max Jaccard estimated={st['cross_split_max_estimated']:.3f} "
              f"exact={st['cross_split_max_exact']:.3f} (limit {LEAK_MAX}); train near-dup max "
              f"estimated={st['train_within_max_estimated']:.3f} (limit {NEAR_DUP}); regenerated "
              f"train={st['train_rejected']:.0f} golden={st['golden_rejected']:.0f}")
    print(f"done in {time.perf_counter() - t0:.1f} s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
