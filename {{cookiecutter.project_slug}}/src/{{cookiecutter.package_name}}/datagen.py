"""Synthetic customer data: the shipped sample and datasets of any size for benchmarks."""

import numpy as np
import pandas as pd

from .contracts import CONTRACT_TYPES, INTERNET_SERVICES, PAYMENT_METHODS


def generate_customers(rows: int, seed: int = 0, with_label: bool = True) -> pd.DataFrame:
    """Generate `rows` customers with realistic churn drivers and some missing values."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACT_TYPES, size=rows, p=[0.55, 0.25, 0.20])
    payment = rng.choice(PAYMENT_METHODS, size=rows, p=[0.22, 0.22, 0.34, 0.22])
    internet = rng.choice(INTERNET_SERVICES, size=rows, p=[0.35, 0.45, 0.20])
    tenure = rng.integers(0, 73, size=rows)
    base_charge = np.select([internet == "fiber", internet == "dsl"], [80.0, 55.0], 25.0)
    monthly = np.round(base_charge + rng.normal(0, 12, size=rows).clip(-20, 40), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.95, 1.05, size=rows), 2)
    calls = rng.poisson(1.2, size=rows)

    logit = (
        -1.0
        + 2.0 * (contract == "month-to-month")
        - 1.2 * (contract == "two-year")
        - 0.06 * tenure
        + 0.5 * calls
        + 0.02 * (monthly - 60)
        + 0.8 * (payment == "electronic-check")
        + 0.6 * (internet == "fiber")
    )
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed:03d}{i:07d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "support_calls": calls,
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.02, "total_charges"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.03, "payment_method"] = None
    frame.loc[rng.uniform(size=rows) < 0.02, "monthly_charges"] = np.nan
    if with_label:
        frame["churned"] = churned
    return frame
