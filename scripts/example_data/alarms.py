"""Telecom network alarm summarisation examples: an alarm block in one of several vendor log
styles -> one NOC shift-log sentence, in Alpaca and prompt/completion formats."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from example_data.common import (
    AS_INSTRUCTION,
    MAX_INPUT_TOKENS,
    MAX_TRIES,
    N_AS_ALPACA,
    N_AS_GOLDEN,
    N_AS_NOC,
    Pool,
    R,
    chance,
    digits,
    gen_golden,
    grounded,
    one_sentence,
    pick,
    token_bound,
    verify,
    wpick,
)


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
