"""`make dq-report`: the silver suite over the sample plus the hostile set, as Data Docs and a summary page."""

from __future__ import annotations

import html
import json
import shutil
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from catalog.reference import canonical_operator_names
from expectations import SILVER_EVENTS, load_suite, suite_version
from pipelines.adapters.gx_validator import GxValidator, to_validation_frame
from pipelines.bronze import schema as bronze_schema
from pipelines.producer.hostile import HOSTILE
from pipelines.producer.records import read_csv_records
from pipelines.silver import schema
from pipelines.silver.batch import suite_params, typed_and_routed
from pipelines.silver.transform import canonical_operators


def write_dq_report(spark: SparkSession, *, sample: Path, out: Path) -> dict[str, Any]:
    """Route the sample and every hostile record through silver's rules; validate with GX; write the report.

    Returns the summary that ``out/summary.json`` holds.
    """
    now = datetime.now(UTC)
    payloads = [r.data for r in read_csv_records(sample, on_date=None, now=now)]
    payloads += [raw for _, raw, _ in HOSTILE]
    rows = [(data, "dq-report", "report", str(i), None, now, now) for i, data in enumerate(payloads)]
    bronze = spark.createDataFrame(rows, bronze_schema.NETWORK_EVENTS)
    suite = load_suite(SILVER_EVENTS)
    params = suite_params(now, max_future_minutes=10)
    routed = typed_and_routed(
        bronze, suite=suite, canonical=canonical_operators(canonical_operator_names()), params=params
    ).cache()
    typed = pa.Table.from_batches(routed.select(*schema.TYPED_COLUMNS)._collect_as_arrow())
    if out.exists():
        shutil.rmtree(out)
    validator = GxValidator(suite, docs_root=out)
    outcomes = validator.validate(to_validation_frame(typed), params, keep=True)
    reasons = Counter(
        reason for row in routed.select(F.explode(schema.REASONS).alias("r")).collect() for reason in [row["r"]]
    )
    quarantined = routed.where(F.size(schema.REASONS) > 0).count()
    docs = validator.data_docs_index()
    summary = {
        "generated_at": now.isoformat(),
        "suite": suite_version(SILVER_EVENTS),
        "records": len(payloads),
        "sample_records": len(payloads) - len(HOSTILE),
        "hostile_records": len(HOSTILE),
        "quarantined": quarantined,
        "passed": len(payloads) - quarantined,
        "quarantine_reasons": dict(reasons.most_common()),
        "expectations": [asdict(o) | {"unexpected_index_list": None} for o in outcomes],
        "data_docs": str(docs.relative_to(out)) if docs else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "index.html").write_text(_summary_html(summary))
    routed.unpersist()
    return summary


def _summary_html(summary: dict[str, Any]) -> str:
    def cell(value: object) -> str:
        return f"<td>{html.escape(str(value))}</td>"

    expectation_rows = "".join(
        "<tr>" + cell(e["expectation"]) + cell(e["severity"]) + cell("pass" if e["success"] else "FAIL")
        + cell(e["unexpected_count"]) + "</tr>"
        for e in summary["expectations"]
    )
    reason_rows = "".join(
        "<tr>" + cell(reason) + cell(count) + "</tr>" for reason, count in summary["quarantine_reasons"].items()
    )
    docs = summary["data_docs"]
    link = f'<p><a href="{html.escape(docs)}">Great Expectations Data Docs</a></p>' if docs else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>TelcoPulse data-quality report</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 10px;text-align:left}}</style></head>
<body><h1>TelcoPulse data-quality report</h1>
<p>Suite <b>{html.escape(summary["suite"])}</b>, generated {html.escape(summary["generated_at"])}.</p>
<p>{summary["records"]} records: {summary["sample_records"]} from the sample, {summary["hostile_records"]} hostile.
<b>{summary["passed"]}</b> passed, <b>{summary["quarantined"]}</b> quarantined.</p>
{link}
<h2>Expectations</h2><table><tr><th>expectation</th><th>severity</th><th>result</th><th>unexpected</th></tr>
{expectation_rows}</table>
<h2>Quarantine reasons</h2><table><tr><th>reason</th><th>records</th></tr>{reason_rows}</table>
</body></html>
"""
