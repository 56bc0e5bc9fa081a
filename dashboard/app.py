"""TelcoPulse dashboard: layout only; every query is in ``dashboard.queries`` over the QueryEngine port.

The engine lives in ``st.cache_resource``, query results in ``st.cache_data`` for one refresh interval, and
the data panels in one ``st.fragment`` that reruns itself every interval (no sleep/rerun loop). The
``refresh`` query parameter (``?refresh=5``) preselects the interval.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.queries import Filters, Level
from pipelines.adapters.registry import query_engine
from pipelines.errors import TelcoPulseError
from pipelines.ports import QueryEngine
from pipelines.settings import Settings

log = logging.getLogger("telcopulse.dashboard")

RANGES: dict[str, timedelta | None] = {
    "Last 15 min": timedelta(minutes=15),
    "Last 1 h": timedelta(hours=1),
    "Last 24 h": timedelta(hours=24),
    "Custom": None,
}
DEFAULT_RANGE = "Last 1 h"
REFRESH_CHOICES = (5.0, 10.0, 30.0, 60.0, 300.0)
DEFAULT_REFRESH = 30.0
MIN_REFRESH = 1.0
TOP_POSTAL_CODES = 20
BADGES = {
    Level.OK: ":green-badge[● fresh]",
    Level.LAGGING: ":orange-badge[● lagging]",
    Level.STALE: ":red-badge[● stale]",
    Level.NO_DATA: ":gray-badge[● no data]",
}


@dataclass(frozen=True)
class RangeChoice:
    """A relative span (resolved against the clock at every refresh) or a fixed custom range."""

    span: timedelta | None
    start: datetime | None = None
    end: datetime | None = None

    def filters(self, now: datetime, refresh: float, operators: tuple[str, ...]) -> Filters:
        if self.span is None and self.start is not None and self.end is not None:
            return Filters(self.start, self.end, operators)
        span = self.span or RANGES[DEFAULT_RANGE] or timedelta(hours=1)
        # The range ends at the end of the current refresh interval, so every session and panel of one
        # interval asks the same question and st.cache_data answers all but the first.
        step = max(refresh, MIN_REFRESH)
        end = datetime.fromtimestamp((now.timestamp() // step + 1) * step, UTC)
        return Filters(end - span, end, operators)


@st.cache_resource(show_spinner=False)
def engine_for(runtime: str, home: str) -> QueryEngine:
    return query_engine(Settings(runtime=runtime, home=home))  # type: ignore[arg-type]


def _run_query(name: str, filters: Filters, runtime: str, home: str) -> pd.DataFrame:
    return queries.PANEL_QUERIES[name](engine_for(runtime, home), filters)


def _run_operators(bucket: int, runtime: str, home: str) -> list[str]:
    return queries.known_operators(engine_for(runtime, home), datetime.now(UTC))


def load(name: str, filters: Filters, settings: Settings, ttl: float) -> pd.DataFrame:
    """One panel's result, cached for one refresh interval (shared by every session)."""
    cached = st.cache_data(ttl=ttl, show_spinner=False, max_entries=512)(_run_query)
    return cached(name, filters, settings.runtime.value, str(settings.home))


def panel(name: str, filters: Filters, settings: Settings, ttl: float) -> pd.DataFrame | None:
    """A panel's data, or a warning in its place when its query fails (the other panels still show)."""
    try:
        return load(name, filters, settings, ttl)
    except TelcoPulseError as exc:
        st.warning(f"{name.replace('_', ' ')}: {exc}")
    except Exception:  # a broken panel must not take the page down with a stack trace
        log.exception("panel %s failed", name)
        st.warning(f"{name.replace('_', ' ')}: unexpected error (details in the dashboard's log)")
    return None


def refresh_choice() -> float:
    requested = st.query_params.get("refresh")
    choices = list(REFRESH_CHOICES)
    default = DEFAULT_REFRESH
    try:
        if requested is not None:
            default = max(float(requested), MIN_REFRESH)
    except ValueError:
        st.sidebar.caption(f"ignored ?refresh={requested!r}: not a number of seconds")
    if default not in choices:
        choices = sorted([*choices, default])
    return float(
        st.sidebar.selectbox(
            "Refresh every", choices, index=choices.index(default), format_func=lambda s: f"{s:g} s"
        )
    )


def range_choice() -> RangeChoice:
    label = st.sidebar.radio("Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE))
    span = RANGES[label]
    if span is not None:
        return RangeChoice(span)
    now = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
    start = st.sidebar.datetime_input("From (UTC)", value=now - timedelta(hours=1))
    end = st.sidebar.datetime_input("To (UTC)", value=now)
    if start is None or end is None or start >= end:
        st.sidebar.warning("Pick a start before the end; showing the last hour meanwhile.")
        return RangeChoice(timedelta(hours=1))
    return RangeChoice(None, start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def operator_choice(settings: Settings, refresh: float) -> tuple[str, ...]:
    try:
        cached = st.cache_data(ttl=refresh, show_spinner=False)(_run_operators)
        bucket = int(datetime.now(UTC).timestamp() // refresh)
        known = cached(bucket, settings.runtime.value, str(settings.home))
    except TelcoPulseError:
        known = []  # the live panel says why
    picked = st.sidebar.multiselect("Operators", known, placeholder="All operators")
    return tuple(picked)


def fmt_age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def fmt_time(moment: Any) -> str:
    if moment is None or pd.isna(moment):
        return "—"
    return pd.Timestamp(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_number(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}"


def show_freshness(
    fresh: pd.DataFrame, commits: pd.DataFrame | None, settings: Settings, now: datetime
) -> None:
    max_age = timedelta(seconds=settings.max_freshness_seconds)
    row = fresh.iloc[0]
    gold_age = queries.age(row["last_updated"], now)
    columns = st.columns(4)
    with columns[0]:
        newest = row["newest_window_start"]
        label = "—" if newest is None or pd.isna(newest) else pd.Timestamp(newest).strftime("%H:%M UTC")
        st.metric("Newest gold window", label, help=f"window_start {fmt_time(newest)}")
        st.markdown(f"updated {fmt_age(gold_age)} {BADGES[queries.freshness_level(gold_age, max_age)]}")
    if commits is None:
        return
    for column, (_, commit) in zip(columns[1:], commits.iterrows(), strict=False):
        commit_age = queries.age(commit["last_commit"], now)
        with column:
            st.metric(f"{str(commit['layer']).title()} last commit", fmt_age(commit_age))
            badge = BADGES[queries.freshness_level(commit_age, max_age)]
            st.markdown(f"{fmt_time(commit['last_commit'])} {badge}")


def show_outages(frame: pd.DataFrame | None) -> None:
    st.subheader("Outages")
    if frame is None:
        return
    open_now = frame[frame["is_open"]]
    if open_now.empty:
        st.success("No open outages.")
    else:
        lines = [
            f"**{o.postal_code}** since {fmt_time(o.outage_start)}: {o.devices_affected} devices, "
            f"worst bad share {o.worst_bad_share:.0%}"
            for o in open_now.itertuples()
        ]
        title = f"**{len(open_now)} open outage{'s' if len(open_now) != 1 else ''}**"
        st.error("  \n".join([title, *lines]))
    recent = frame[~frame["is_open"]]
    if not recent.empty:
        st.caption(f"{len(recent)} outage(s) ended in the selected range")
        st.dataframe(recent.drop(columns=["is_open"]), hide_index=True, width="stretch")
    st.caption("Outages are per postal code across all operators.")


def show_kpis(frame: pd.DataFrame | None) -> None:
    st.subheader("Operators")
    if frame is None:
        return
    if frame.empty:
        st.info("No gold windows in the selected range for these operators.")
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**Average signal per operator**")
        st.bar_chart(frame, x="operator", y="avg_signal", y_label="signal", horizontal=True)
    with right:
        st.markdown("**Average GPS precision per operator (m)**")
        st.bar_chart(frame, x="operator", y="avg_gps_precision_m", y_label="metres", horizontal=True)
    table = pd.DataFrame(
        {
            "operator": frame["operator"],
            "avg signal": frame["avg_signal"].map(fmt_number),
            "avg GPS precision (m)": frame["avg_gps_precision_m"].map(fmt_number),
            "readings": frame["readings"].map(lambda v: f"{v:,}"),
            "windows": frame["windows"],
        }
    )
    st.table(table.set_index("operator"))


def show_status_counts(frame: pd.DataFrame | None, filters: Filters) -> None:
    st.subheader("Network status per postal code")
    if frame is None:
        return
    if frame.empty:
        st.info("No readings with a postal code in the selected range.")
        return
    totals = frame.groupby("postal_code")["readings"].sum().nlargest(TOP_POSTAL_CODES)
    top = frame[frame["postal_code"].isin(totals.index)]
    st.bar_chart(top, x="postal_code", y="readings", color="status_name", stack=True)
    source = "silver readings of the selected operators" if filters.operators else "gold, all operators"
    codes = frame["postal_code"].nunique()
    st.caption(f"Top {len(totals)} of {codes} postal codes by readings; from {source}.")
    with st.expander("All postal codes"):
        pivot = frame.pivot_table(index="postal_code", columns="status_name", values="readings", fill_value=0)
        st.dataframe(pivot, width="stretch")


def show_data_quality(
    rates: pd.DataFrame | None, reasons: pd.DataFrame | None, settings: Settings, filters: Filters
) -> None:
    st.subheader("Data quality")
    if filters.operators:
        st.caption(
            "Validation runs per micro-batch across all operators: the operator filter does not apply."
        )
    left, right = st.columns(2)
    with left:
        if rates is not None:
            overall = queries.overall_pass_rate(rates)
            st.metric("Pass rate in range", "—" if overall is None else f"{overall:.2%}")
            if rates.empty:
                st.caption("No silver batches validated in the selected range.")
            else:
                st.line_chart(rates, x="bucket", y="pass_rate", y_label="pass rate")
            st.caption("(rows_in − rows_quarantined) / rows_in; duplicates are not quality failures.")
    with right:
        if reasons is not None:
            total = int(reasons["records"].sum()) if not reasons.empty else 0
            st.metric("Quarantined (by reason)", f"{total:,}")
            if reasons.empty:
                st.caption("Nothing quarantined in the selected range.")
            else:
                st.bar_chart(reasons, x="reason", y="records", horizontal=True)
    docs = settings.data_docs_dir / "index.html"
    if docs.is_file():
        st.markdown(f"Data Docs: `{docs}`")
    else:
        st.caption(f"Data Docs not built yet (expected at `{docs}`).")


def live(settings: Settings, choice: RangeChoice, operators: tuple[str, ...], refresh: float) -> None:
    """Everything that shows data; reruns by itself every ``refresh`` seconds."""
    now = datetime.now(UTC)
    filters = choice.filters(now, refresh, operators)
    try:
        fresh = load("gold_freshness", filters, settings, refresh)
    except TelcoPulseError as exc:
        st.error(f"**Cannot query the lakehouse.** {exc}")
        st.caption(f"Retrying every {refresh:g} s.")
        return
    except Exception:  # the page shows a clear state, the log keeps the details
        log.exception("query engine failed")
        st.error("**Cannot query the lakehouse.** Unexpected error (details in the dashboard's log).")
        return
    commits = panel("layer_commits", filters, settings, refresh)
    if int(fresh.iloc[0]["windows"]) == 0:
        st.info(
            "**No data yet.** Gold has no windows"
            + (" for these operators" if operators else "")
            + ". Start the pipeline (`telcopulse run all`) and a producer (`telcopulse produce`)."
        )
        show_freshness(fresh, commits, settings, now)
        return
    show_freshness(fresh, commits, settings, now)
    show_outages(panel("outages", filters, settings, refresh))
    show_kpis(panel("operator_kpis", filters, settings, refresh))
    show_status_counts(panel("status_counts", filters, settings, refresh), filters)
    rates = panel("dq_pass_rate", filters, settings, refresh)
    show_data_quality(rates, panel("quarantine_reasons", filters, settings, refresh), settings, filters)
    st.caption(
        f"{fmt_time(filters.start)} → {fmt_time(filters.end)} · "
        f"refreshed {now:%H:%M:%S} UTC, every {refresh:g} s"
    )


def main() -> None:
    st.set_page_config(page_title="TelcoPulse", page_icon="📡", layout="wide")
    settings = Settings()
    st.title("TelcoPulse network metrics")
    refresh = refresh_choice()
    choice = range_choice()
    operators = operator_choice(settings, refresh)
    st.fragment(live, run_every=refresh)(settings, choice, operators, refresh)


main()
