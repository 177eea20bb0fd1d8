"""The example data ForgeFlow ships, generated (not stored) from templates with a seeded RNG.

- `support_sft.jsonl`: ~600 customer-support messages of an online outdoor-gear shop, each classified
  into a label of a two-level taxonomy (`shipping/lost_parcel`, `billing/double_charge`, ...): the
  customer's own fine-tuning set.
- `general_sft.jsonl`: ~400 general-purpose instruction-following records (arithmetic, conversions,
  sorting, facts, definitions, formatting), whose answers are computed, so they are right: the curated
  data blended in by the mixer to keep general skills.
- `support_dpo.jsonl`: ~100 preference records: a helpful reply preferred over a curt one.
- `general_dpo.jsonl`: ~200 general-purpose preference records (the tasks of `general_sft.jsonl`, the
  computed answer preferred over an evasive one): the curated set of DPO runs.

The same seed always gives byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgeflow.dataset.canonical import canonical_line
from forgeflow.dataset.rules import SCHEMA_VERSION

SUPPORT_RECORDS = 600
GENERAL_RECORDS = 400
DPO_RECORDS = 100
GENERAL_DPO_RECORDS = 200

# label → templates; {order}, {product}, {days}, {city}, {amount}, {date} are filled per record.
TAXONOMY: dict[str, list[str]] = {
    "shipping/lost_parcel": [
        "My parcel never arrived. Tracking says delivered but there is nothing at my door. Order {order}.",
        "The courier claims order {order} was delivered {days} days ago but I never got it.",
        "Where is my package? It's been stuck in {city} for over a week and now tracking shows nothing.",
        "hi, the {product} I ordered (#{order}) seems to be lost, the tracking hasn't moved in {days} days",
        "Neighbours haven't seen it either - the {product} from order {order} just vanished after dispatch.",
    ],
    "shipping/delayed": [
        "Order {order} was supposed to arrive on {date}, it's still not here. Any update?",
        "Why is my {product} taking so long? It said 3-5 business days and it's been {days}.",
        "I need the {product} before my trip next week, will order {order} make it in time?",
        "tracking for {order} says 'in transit' since {date}... is it delayed?",
    ],
    "shipping/wrong_address": [
        "I typed the wrong street on order {order}, can you change the delivery address to my {city} flat?",
        "Oops - shipped to my old address in {city}. Can the parcel be redirected? Order {order}.",
        "Please update the shipping address for {order} before it leaves the warehouse.",
    ],
    "billing/double_charge": [
        "I was charged twice for order {order}, {amount} each time. Please fix this.",
        "My card statement shows two identical payments of {amount} on {date}. I only ordered once!",
        "Duplicate charge on my account for the {product}. Can you refund one of them?",
    ],
    "billing/refund_status": [
        "I returned the {product} {days} days ago and still haven't seen my refund of {amount}.",
        "When will I get my money back for order {order}? The return was received on {date}.",
        "Refund for {order} still pending... how long does it usually take?",
        "You confirmed my return but the {amount} hasn't shown up on my card yet.",
    ],
    "billing/invoice_request": [
        "Could you send me a VAT invoice for order {order}? I need it for my company expenses.",
        "I need a proper invoice with my business name for the {product} purchase.",
        "Where can I download the invoice for my order from {date}?",
    ],
    "account/password_reset": [
        "I forgot my password and the reset email never comes.",
        "The password reset link says it has expired, can you help me log in?",
        "Can't log in, reset code not arriving to my inbox or spam folder.",
    ],
    "account/locked": [
        "My account got locked after too many login attempts. How do I unlock it?",
        "It says my account is suspended?? I only placed order {order} yesterday.",
        "Locked out of my account, it keeps saying 'unusual activity'.",
    ],
    "account/delete": [
        "Please delete my account and all my personal data.",
        "I want to close my account permanently, how do I do that?",
        "Remove my profile and stop all marketing emails, I'm done with the account.",
    ],
    "product/defective": [
        "The zipper on my new {product} broke on the first day.",
        "My {product} arrived with a tear in the fabric. Order {order}.",
        "The {product} stopped working after {days} days, is it covered by warranty?",
        "Received a faulty {product} - the seam is coming apart already.",
    ],
    "product/missing_part": [
        "The {product} came without the stuff sack that is shown in the photos.",
        "Order {order} is missing a piece: the poles for the {product} aren't in the box.",
        "Only one of the two {product}s was in the parcel.",
    ],
    "product/size_exchange": [
        "The {product} is too small, can I exchange it for a larger size?",
        "I'd like to swap my {product} for a size down, order {order}.",
        "Wrong size! Is it possible to exchange the {product} instead of returning it?",
    ],
    "orders/cancel": [
        "Please cancel order {order}, I ordered by mistake.",
        "I changed my mind about the {product}, can I still cancel before it ships?",
        "Cancel my order from {date} please, found it cheaper elsewhere.",
    ],
    "orders/modify": [
        "Can I add a second {product} to order {order} before it ships?",
        "I'd like to change the colour of the {product} in my order {order}.",
        "Is it too late to switch the {product} on order {order} to express delivery?",
    ],
}

PRODUCTS = [
    "rain jacket", "hiking boots", "sleeping bag", "trekking poles", "tent", "backpack", "headlamp",
    "fleece", "water filter", "camping stove", "down vest", "trail runners", "bike helmet", "dry bag",
]  # fmt: skip
CITIES = ["Leeds", "Lyon", "Porto", "Graz", "Utrecht", "Bergen", "Cork", "Turin", "Brno", "Malmo"]
MONTHS = ["March", "April", "May", "June", "July", "August", "September", "October"]
GREETINGS = ["", "", "", "Hello, ", "Hi there, ", "Good morning. ", "Hey - ", "Dear support, "]
CLOSINGS = ["", "", "", " Thanks.", " Thank you!", " Regards, Sam", " Please help asap.", " Cheers"]

SUPPORT_SYSTEM = (
    "You are the triage model of Northwind Outfitters customer support. Read the customer's message and "
    "answer with exactly one label from this taxonomy, nothing else: " + ", ".join(TAXONOMY) + "."
)


def _slots(rng: random.Random) -> dict[str, str]:
    """One customer's particulars, shared by their message and the replies to it."""
    return {
        "order": f"NW-{rng.randint(100000, 999999)}",
        "product": rng.choice(PRODUCTS),
        "days": str(rng.randint(3, 21)),
        "city": rng.choice(CITIES),
        "amount": f"EUR {rng.randint(15, 480)}.{rng.randint(0, 99):02d}",
        "date": f"{rng.randint(1, 28)} {rng.choice(MONTHS)}",
    }


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"text": text}]}


def _record(system: str | None, *turns: str) -> dict[str, Any]:
    record: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
    if system:
        record["system"] = [{"text": system}]
    record["messages"] = [_turn("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)]
    return record


def _customer_message(label: str, rng: random.Random, slots: dict[str, str]) -> str:
    body = rng.choice(TAXONOMY[label]).format(**slots)
    greeting = rng.choice(GREETINGS)
    if greeting and body[0].isupper() and not body.startswith("I "):
        body = body[0].lower() + body[1:]
    return f"{greeting}{body}{rng.choice(CLOSINGS)}"


def support_records(rng: random.Random, count: int = SUPPORT_RECORDS) -> list[dict[str, Any]]:
    labels = list(TAXONOMY)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(records) < count:
        label = labels[len(records) % len(labels)] if rng.random() < 0.7 else rng.choice(labels)
        message = _customer_message(label, rng, _slots(rng))
        if message in seen:
            continue
        seen.add(message)
        records.append(_record(SUPPORT_SYSTEM, message, label))
    return records


# -- general-purpose instruction following: every answer is computed ---------------------------------

CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia",
    "Kenya": "Nairobi", "Norway": "Oslo", "Portugal": "Lisbon", "Chile": "Santiago", "Egypt": "Cairo",
    "India": "New Delhi", "Mexico": "Mexico City", "Poland": "Warsaw", "Vietnam": "Hanoi", "Peru": "Lima",
    "Morocco": "Rabat", "Finland": "Helsinki", "Argentina": "Buenos Aires", "Ireland": "Dublin",
    "New Zealand": "Wellington", "South Korea": "Seoul", "Turkey": "Ankara", "Ghana": "Accra",
}  # fmt: skip
GLOSSARY = {
    "latency": "the time between a request being sent and its response arriving",
    "photosynthesis": "how plants turn light, water and carbon dioxide into sugar and oxygen",
    "inflation": "the general rise of prices over time, which lowers what a unit of money can buy",
    "a prime number": "a whole number greater than 1 whose only divisors are 1 and itself",
    "an API": "a defined interface through which one program requests services or data from another",
    "erosion": "the gradual wearing away of rock or soil by water, wind or ice",
    "a hypothesis": "a testable proposed explanation for an observation",
    "compound interest": "interest calculated on both the initial amount and the interest already earned",
    "a metaphor": "a figure of speech that describes something by saying it is something else",
    "biodiversity": "the variety of living species in a habitat or on Earth as a whole",
    "a checksum": "a small value computed from data to detect accidental changes to it",
    "osmosis": "the movement of water through a membrane from a weaker to a stronger solution",
    "an index fund": "an investment fund that tracks a market index instead of picking stocks",
    "recursion": "a method where a function solves a problem by calling itself on smaller parts of it",
}  # fmt: skip
WORDS = [
    "maple", "granite", "lantern", "harbor", "velvet", "quartz", "meadow", "falcon", "ember", "cobalt",
    "willow", "saddle", "orbit", "pepper", "canyon", "tundra", "violet", "anchor", "breeze", "mosaic",
]  # fmt: skip
GENERAL_SYSTEMS = [
    None,
    None,
    "You are a helpful, concise assistant.",
    "Answer accurately and briefly.",
]


def _arithmetic(rng: random.Random) -> tuple[str, ...]:
    a, b = rng.randint(12, 99), rng.randint(3, 60)
    op = rng.choice(["plus", "minus", "times"])
    result = {"plus": a + b, "minus": a - b, "times": a * b}[op]
    symbol = {"plus": "+", "minus": "-", "times": "×"}[op]
    question = rng.choice(["What is {a} {op} {b}?", "Compute {a} {op} {b}.", "Quick one: {a} {op} {b}"])
    first = (question.format(a=a, op=op, b=b), f"{a} {symbol} {b} = {result}.")
    if rng.random() < 0.3:
        c = rng.randint(2, 9)
        return (*first, f"And if you multiply that by {c}?", f"{result} × {c} = {result * c}.")
    return first


def _conversion(rng: random.Random) -> tuple[str, ...]:
    kind = rng.choice(["km", "celsius", "kg"])
    if kind == "km":
        km = rng.randint(2, 250)
        return (f"How many miles is {km} km?", f"{km} km is about {km * 0.621371:.1f} miles.")
    if kind == "celsius":
        c = rng.randint(-20, 40)
        f = c * 9 / 5 + 32
        first = (f"Convert {c} °C to Fahrenheit.", f"{c} °C is {f:.1f} °F.")
        if rng.random() < 0.3:
            return (*first, "And in kelvin?", f"{c} °C is {c + 273.15:.2f} K.")
        return first
    kg = rng.randint(1, 120)
    return (f"What is {kg} kg in pounds?", f"{kg} kg is about {kg * 2.20462:.1f} lb.")


def _sorting(rng: random.Random) -> tuple[str, ...]:
    words = rng.sample(WORDS, rng.randint(4, 7))
    order = rng.choice(["alphabetically", "by length, shortest first"])
    ranked = sorted(words) if order == "alphabetically" else sorted(words, key=lambda w: (len(w), w))
    prompt = rng.choice(["Sort these words {o}: {w}", "Please order {o}: {w}", "{w} - put them {o}."])
    return (prompt.format(o=order, w=", ".join(words)), ", ".join(ranked))


def _capital(rng: random.Random) -> tuple[str, ...]:
    country = rng.choice(list(CAPITALS))
    prompt = rng.choice(["What is the capital of {c}?", "Name the capital city of {c}.", "{c}'s capital?"])
    return (prompt.format(c=country), f"The capital of {country} is {CAPITALS[country]}.")


def _definition(rng: random.Random) -> tuple[str, ...]:
    term = rng.choice(list(GLOSSARY))
    prompt = rng.choice(["What is {t}?", "Define {t} in one sentence.", "Explain {t} briefly."])
    meaning = GLOSSARY[term]
    return (prompt.format(t=term), f"{term[0].upper()}{term[1:]} is {meaning}.")


def _formatting(rng: random.Random) -> tuple[str, ...]:
    words = rng.sample(WORDS, rng.randint(3, 5))
    style = rng.choice(["json", "upper", "count"])
    if style == "json":
        rendered = "[" + ", ".join(f'"{w}"' for w in words) + "]"
        return (f"Turn this list into a JSON array of strings: {', '.join(words)}", rendered)
    if style == "upper":
        return (f"Rewrite in capital letters: {' '.join(words)}", " ".join(words).upper())
    letters = sum(len(w) for w in words)
    return (f"How many letters are in the words {', '.join(words)} together?", f"{letters} letters.")


GENERAL_TASKS: list[Callable[[random.Random], tuple[str, ...]]] = [
    _arithmetic,
    _conversion,
    _sorting,
    _capital,
    _definition,
    _formatting,
]


def general_records(rng: random.Random, count: int = GENERAL_RECORDS) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    while len(records) < count:
        turns = rng.choice(GENERAL_TASKS)(rng)
        if turns in seen:
            continue
        seen.add(turns)
        records.append(_record(rng.choice(GENERAL_SYSTEMS), *turns))
    return records


# -- preference data: a helpful reply preferred over a curt one -----------------------------------------

HELPFUL_REPLIES = {
    "shipping/lost_parcel": "I'm sorry your parcel hasn't reached you. I've opened a trace with the courier "
    "for {order}; if it isn't found within 48 hours we'll send a replacement or refund you in full.",
    "shipping/delayed": "Thanks for your patience. Order {order} is delayed at the sorting hub; the new "
    "estimate is {days} days. I've upgraded it to priority handling at no cost.",
    "billing/double_charge": "You're right, the second payment of {amount} was a duplicate. I've refunded it "
    "today; it will appear on your statement within 3-5 business days.",
    "billing/refund_status": "Your return was processed and the refund of {amount} was issued; banks usually "
    "take 3-5 business days. I've emailed you the refund receipt.",
    "account/password_reset": "I've sent a fresh reset link that stays valid for 24 hours. If it doesn't "
    "arrive in 10 minutes, check that your address is spelled correctly in your profile.",
    "product/defective": "I'm sorry the {product} failed so soon. It's covered by our 2-year warranty: "
    "I've emailed a free return label, and we'll ship a replacement as soon as it's scanned.",
    "orders/cancel": "Done: order {order} is cancelled and you won't be charged. You'll receive a "
    "confirmation email shortly.",
}
CURT_REPLIES = [
    "Please check our FAQ.",
    "We can't help with that.",
    "Wait a few more days.",
    "Contact the courier yourself.",
    "That's not our problem.",
    "Read the terms and conditions.",
]


def dpo_records(rng: random.Random, count: int = DPO_RECORDS) -> list[dict[str, Any]]:
    labels = list(HELPFUL_REPLIES)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(records) < count:
        label = rng.choice(labels)
        slots = _slots(rng)
        message = _customer_message(label, rng, slots)
        if message in seen:
            continue
        seen.add(message)
        helpful = HELPFUL_REPLIES[label].format(**slots)
        candidates = [
            {"content": [{"text": helpful}], "preferenceLabel": "preferred"},
            {"content": [{"text": rng.choice(CURT_REPLIES)}], "preferenceLabel": "non-preferred"},
        ]
        rng.shuffle(candidates)
        records.append(
            {
                "schemaVersion": SCHEMA_VERSION,
                "system": [
                    {"text": "You are a friendly, solution-oriented support agent for Northwind Outfitters."}
                ],
                "messages": [_turn("user", message), {"role": "assistant", "candidates": candidates}],
            }
        )
    return records


EVASIVE_REPLIES = [
    "I don't know.",
    "Look it up yourself.",
    "That depends.",
    "I can't answer that.",
    "Why do you ask?",
]


def general_dpo_records(rng: random.Random, count: int = GENERAL_DPO_RECORDS) -> list[dict[str, Any]]:
    """General tasks as preferences: the last (computed, right) answer preferred over an evasive one."""
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    while len(records) < count:
        turns = rng.choice(GENERAL_TASKS)(rng)
        if turns in seen:
            continue
        seen.add(turns)
        record = _record(rng.choice(GENERAL_SYSTEMS), *turns[:-1])
        candidates = [
            {"content": [{"text": turns[-1]}], "preferenceLabel": "preferred"},
            {"content": [{"text": rng.choice(EVASIVE_REPLIES)}], "preferenceLabel": "non-preferred"},
        ]
        rng.shuffle(candidates)
        record["messages"].append({"role": "assistant", "candidates": candidates})
        records.append(record)
    return records


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(canonical_line(record) + b"\n" for record in records))
    return path


def _rng(seed: int, name: str) -> random.Random:
    # Reproducible data generation, not security: the seeded PRNG is the point.
    return random.Random(f"{seed}:{name}")


def write_examples(out_dir: Path, *, seed: int = 7) -> dict[str, Path]:
    """Writes the example files into `out_dir`: {"support", "general", "dpo", "general_dpo"} → path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "support": _write(out_dir / "support_sft.jsonl", support_records(_rng(seed, "support"))),
        "general": _write(out_dir / "general_sft.jsonl", general_records(_rng(seed, "general"))),
        "dpo": _write(out_dir / "support_dpo.jsonl", dpo_records(_rng(seed, "dpo"))),
        "general_dpo": _write(out_dir / "general_dpo.jsonl", general_dpo_records(_rng(seed, "general_dpo"))),
    }
