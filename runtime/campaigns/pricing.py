"""Meta's per-message prices (billed per delivered template since 2025-07-01) and a
campaign's estimate before launch: how long it will take and what it will cost.

The price table is Meta's published rate card for Indonesia (USD, 2025), our main market; a
tenant elsewhere reads it as an order of magnitude until per-country rates are configurable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# USD per delivered template message, by category (Meta rate card, Indonesia).
PRICES = {
    "MARKETING": 0.0411,
    "UTILITY": 0.0250,
    "AUTHENTICATION": 0.0250,
    "AUTHENTICATION-INTERNATIONAL": 0.1360,
    "SERVICE": 0.0,
}


@dataclass(frozen=True)
class Price:
    category: str
    amount: float
    currency: str = "USD"


def price_of(category: str) -> Price:
    """The price of one message of ``category`` (unknown categories: as marketing)."""
    key = category.upper()
    return Price(key, PRICES.get(key, PRICES["MARKETING"]))


@dataclass(frozen=True)
class Estimate:
    recipients: int
    duration_seconds: float
    limited_by: str  # rate_cap | throughput | warm_up
    price: Price

    @property
    def cost(self) -> float:
        return round(self.recipients * self.price.amount, 4)


def estimate(
    recipients: int,
    rate_per_minute: int,
    throughput_mps: int,
    daily_budget: int | None,
    price: Price,
) -> Estimate:
    """Duration at the slowest of the campaign's rate cap, its numbers' combined throughput
    and (with warm-up ramps) their daily budgets, counted as whole days."""
    paces = {"rate_cap": rate_per_minute / 60.0, "throughput": float(max(1, throughput_mps))}
    limited_by = min(paces, key=lambda k: paces[k])
    seconds = recipients / paces[limited_by]
    if daily_budget is not None and recipients > daily_budget:
        days = math.ceil(recipients / max(1, daily_budget)) - 1
        if days * 86_400 > seconds:
            seconds, limited_by = days * 86_400 + daily_budget / paces[limited_by], "warm_up"
    return Estimate(recipients, round(seconds, 1), limited_by, price)
