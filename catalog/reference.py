"""Reference data kept in catalog/: the canonical operator spellings."""

from __future__ import annotations

import csv
from pathlib import Path

OPERATORS_CSV = Path(__file__).with_name("operators.csv")


def canonical_operator_names() -> list[str]:
    with OPERATORS_CSV.open(newline="", encoding="utf-8") as handle:
        return [row["canonical"] for row in csv.DictReader(handle)]
