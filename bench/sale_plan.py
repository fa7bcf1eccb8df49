"""What each buyer of bench.flash_sale will do, and what their phone will answer: decided up front.

The plan is drawn once from `--seed`, so the PayHero stand-in (which plays every phone) and
the buyers (who play every browser) agree without talking to each other: a buyer's index is
written into their phone number (`07` + eight digits), and the stand-in reads it back from
the STK push. Every duration here is in real seconds of the sale as the issue describes it;
`Timing.scale` shrinks them all for a quick run (`--time-scale 0.05`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# What the buyer does with the prompt on their phone. "resend-*": the first prompt never
# comes back (no callback), the page offers to send it again once its window is over, the
# buyer does, and then pays, or lets the second one lapse too (the expiry pass ends it).
PAID, CANCELLED, INSUFFICIENT, WRONG_PIN = "paid", "cancelled", "insufficient", "wrong-pin"
RESEND_PAID, RESEND_EXPIRE = "resend-paid", "resend-expire"
OUTCOME_SHARES: dict[str, float] = {
    PAID: 0.70,
    CANCELLED: 0.06,
    INSUFFICIENT: 0.05,
    WRONG_PIN: 0.04,
    RESEND_PAID: 0.10,
    RESEND_EXPIRE: 0.05,
}
# The callback's result (server/payhero/fake.py's RESULTS) for each push, by outcome;
# None: that push is never answered.
PUSH_RESULTS: dict[str, tuple[str | None, ...]] = {
    PAID: ("success",),
    CANCELLED: ("cancelled",),
    INSUFFICIENT: ("insufficient",),
    WRONG_PIN: ("wrong-pin",),
    RESEND_PAID: (None, "success"),
    RESEND_EXPIRE: (None, None),
}
# What the buyer's screen must end on.
FINAL_STATUS: dict[str, str] = {
    PAID: "completed",
    CANCELLED: "cancelled",
    INSUFFICIENT: "failed",
    WRONG_PIN: "failed",
    RESEND_PAID: "completed",
    RESEND_EXPIRE: "expired",
}
PAYING = frozenset({PAID, RESEND_PAID})
# A few callbacks come twice (PayHero retries), and some first prompts that went unanswered
# report "could not reach the phone" (1037) after the buyer already asked again: a late
# failure of a superseded push, which must change nothing.
DUPLICATE_SHARE = 0.03
LATE_FIRST_SHARE = 0.4


@dataclass(frozen=True)
class Timing:
    """The sale's clock in real seconds (the issue's figures), and the factor applied to all."""

    scale: float = 1.0
    push_answer: tuple[float, float] = (0.5, 3.0)
    callback_after: tuple[float, float] = (5.0, 40.0)
    duplicate_after: tuple[float, float] = (1.0, 20.0)
    late_after: tuple[float, float] = (0.5, 3.0)
    # The service's PayHero timeout: pushes answered later get "outcome unknown" (202).
    payhero_timeout: float = 2.75
    prompt_window: float = 60.0
    payment_expiry: float = 90.0
    expiry_check: float = 15.0
    safety_net: float = 5.0
    hold: float = 25.0
    # A buyer told "sold out" looks at the catalogue again this much later, a few times.
    sold_out_retry: float = 5.0
    sold_out_tries: int = 3

    def s(self, seconds: float) -> float:
        return seconds * self.scale

    def service_env(self) -> dict[str, str]:
        """The service's own clocks, scaled alike (PAYMENT_EXPIRY must cover timeout + window)."""
        hold = max(self.s(self.hold), 1.0)
        return {
            "PAYHERO_TIMEOUT": f"{self.s(self.payhero_timeout):g}",
            "PROMPT_WINDOW": f"{self.s(self.prompt_window):g}",
            "PAYMENT_EXPIRY": f"{self.s(self.payment_expiry):g}",
            "EXPIRY_CHECK_INTERVAL": f"{self.s(self.expiry_check):g}",
            "SAFETY_NET_INTERVAL": f"{self.s(self.safety_net):g}",
            "WAIT_TIMEOUT": f"{hold:g}",
            "WAIT_TIMEOUT_MAX": f"{hold:g}",
        }


@dataclass(frozen=True)
class BuyerPlan:
    index: int
    arrival: float  # seconds after the sale opens, scaled
    outcome: str
    transport: str  # "sse", "wait" or "poll"
    shape: str  # the callback shape their payment comes back in: "v2" or "flat"
    push_delays: tuple[float, ...]  # PayHero's answer to each push, scaled
    callback_after: tuple[float, ...]  # the phone's answer after each push, scaled
    duplicate_after: float | None  # the decisive callback is sent again this much later
    late_first_after: float | None  # push 1's late 1037, this long after push 2

    @property
    def phone(self) -> str:
        return f"07{self.index:08d}"

    @property
    def email(self) -> str:
        return f"buyer{self.index}@example.com"

    def result(self, attempt: int) -> str | None:
        results = PUSH_RESULTS[self.outcome]
        return results[attempt - 1] if attempt <= len(results) else None


def index_of_phone(phone: str) -> int:
    """The buyer whose phone this is (the service sends it as 2547XXXXXXXX)."""
    return int(phone[-8:])


def draw(buyers: int, over: float, timing: Timing, *, poll: bool, seed: int = 22) -> list[BuyerPlan]:
    """`buyers` plans arriving over `over` real seconds (a burst: uniformly, not a ramp)."""
    rng = random.Random(seed)
    names, weights = list(OUTCOME_SHARES), list(OUTCOME_SHARES.values())

    def between(bounds: tuple[float, float]) -> float:
        return timing.s(rng.uniform(*bounds))

    plans = []
    for index in range(buyers):
        outcome = rng.choices(names, weights)[0]
        pushes = len(PUSH_RESULTS[outcome])
        decisive = any(r is not None for r in PUSH_RESULTS[outcome])
        plans.append(
            BuyerPlan(
                index=index,
                arrival=rng.uniform(0.0, over),
                outcome=outcome,
                transport="poll" if poll else ("sse" if index % 2 == 0 else "wait"),
                shape="flat" if rng.random() < 0.5 else "v2",
                push_delays=tuple(between(timing.push_answer) for _ in range(pushes)),
                callback_after=tuple(between(timing.callback_after) for _ in range(pushes)),
                duplicate_after=between(timing.duplicate_after)
                if decisive and rng.random() < DUPLICATE_SHARE
                else None,
                late_first_after=between(timing.late_after)
                if pushes > 1 and rng.random() < LATE_FIRST_SHARE
                else None,
            )
        )
    return sorted(plans, key=lambda p: p.arrival)
