"""Support-ticket triage examples: ticket text -> JSON with summary, urgency and category, in
chat format. Tickets are composed from products, people, channels, scenarios per category,
phrasings, sentence orders and typos; eight deliberate duplicates close the training file."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from example_data.common import (
    CATEGORIES,
    MAX_INPUT_TOKENS,
    MAX_TRIES,
    N_TT_GOLDEN,
    N_TT_TRAIN,
    PLANTED_NEAR_DUP,
    TT_SYSTEM,
    URGENCIES,
    Pool,
    R,
    ascii_slug,
    chance,
    digits,
    exact_dup,
    exact_jaccard,
    gen_golden,
    grounded,
    minhash,
    near_dup,
    normalize,
    one_sentence,
    pick,
    shingles,
    some,
    third,
    token_bound,
    verify,
    wpick,
)


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
