"""``replay_widget(kit, ...)``: scope, target, rate → Preview (dry run) → Replay → progress → aggregate diff.

The target is the stack's processor (progress is the replay queue draining, then the aggregate
diff) or an external SQS queue, EventBridge bus, Kinesis stream or HTTP endpoint (progress is the
run's per-target counts; such a replay always asks for a confirmation naming the target).

A thin ipywidgets skin over ``ReplayFlow``; every error becomes a readable line, never a traceback.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from pik.core.replay import StopReason
from pik.core.timefmt import parse_bound

from .flow import FlowError, Progress, ReplayFlow, Scope, to_send

if TYPE_CHECKING:
    import ipywidgets as w

    from ..kit import Kit

TARGET_KINDS = [
    ("the stack's processor", ""),
    ("SQS queue", "sqs"),
    ("EventBridge bus", "eventbridge"),
    ("Kinesis stream", "kinesis"),
    ("HTTP endpoint", "http"),
]
_BAR = (
    '<tr><td class="pik-day">{day}</td><td style="width:60%"><div style="background:#4c72b0;height:12px;'
    'width:{pct:.1f}%"></div></td><td class="pik-day-count">{count}</td></tr>'
)


def replay_widget(
    kit: Kit,
    *,
    entity_id: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    start: Any = "",
    end: Any = "",
    confirm_above: int = 1000,
    metric: str = "count",
    poll_seconds: float = 1.0,
    timeout_seconds: float = 300.0,
) -> w.VBox:
    """The click-to-replay widget, prefilled with a scope.

    >>> replay_widget(kit, entity_id="customer-42", start="2026-11-20T00:00:00Z", end="2026-11-21T00:00:00Z")
    """
    return ReplayWidget(
        ReplayFlow(kit, confirm_above=confirm_above),
        entity_id=entity_id,
        source=source,
        event_type=event_type,
        start=str(start),
        end=str(end),
        metric=metric,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    ).box


STATIC_NOTE = (
    "Replay widget (preview, then replay): run this cell in JupyterLab to use it; a saved or "
    "exported notebook only shows it."
)


@cache
def _box_class() -> type:
    """A VBox whose plain-text form (what a saved notebook or the HTML report shows where no widget
    can render) says how to use it, instead of ``VBox(children=(HTML(...``."""
    import ipywidgets as w

    class ReplayBox(w.VBox):
        def __repr__(self) -> str:
            return STATIC_NOTE

        def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
            """ipywidgets' bundle, with the whole note as its plain text (ipywidgets cuts it at 110 characters)."""
            bundle = super()._repr_mimebundle_(**kwargs)
            return {**bundle, "text/plain": STATIC_NOTE} if bundle else bundle

    return ReplayBox


class ReplayWidget:
    """Controls and displays; ``box`` is what a notebook shows."""

    def __init__(
        self,
        flow: ReplayFlow,
        *,
        entity_id: str | None,
        source: str | None,
        event_type: str | None,
        start: str,
        end: str,
        metric: str,
        poll_seconds: float,
        timeout_seconds: float,
    ) -> None:
        import ipywidgets as w  # on first use: importing pik_nb stays free of the widget stack

        self.flow, self.metric = flow, metric
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds
        text = lambda label, value: w.Text(value=value or "", description=label, style={"description_width": "90px"})  # noqa: E731
        self.entity = text("entity_id", entity_id)
        self.source = text("source", source)
        self.event_type = text("event_type", event_type)
        self.start = text("start", start)
        self.end = text("end", end)
        self.duplicates = w.Checkbox(value=False, description="include duplicates")
        self.target_kind = w.Dropdown(
            options=TARGET_KINDS, value="", description="send to", style={"description_width": "90px"}
        )
        self.target_kind.add_class("pik-target-kind")
        self.target_address = text("address", "")
        self.target_address.placeholder = "queue URL, bus name or ARN, stream ARN, URL"
        self.target_address.add_class("pik-target-address")
        self.rate = w.BoundedFloatText(
            value=0, min=0, max=1000, description="events/s", style={"description_width": "90px"}
        )
        self.rate.add_class("pik-rate")
        self.resend = w.Checkbox(
            value=False,
            description="send again what the target already has",
            layout=w.Layout(width="auto", display="none"),
        )  # shown for an external target
        self.resend.add_class("pik-resend")
        self.preview_button = w.Button(description="Preview", button_style="info", icon="search")
        self.replay_button = w.Button(description="Replay", button_style="danger", icon="play", disabled=True)
        self.confirm = w.Checkbox(
            value=False, description="I confirm this replay", layout=w.Layout(display="none", width="auto")
        )
        self.confirm.add_class("pik-confirm")
        self.status = self._html("pik-status")
        self.preview_view = self._html("pik-preview")
        self.progress_bar = w.IntProgress(
            value=0, min=0, max=1, description="processed", layout=w.Layout(display="none")
        )
        self.progress_view = self._html("pik-progress")
        self.result_view = self._html("pik-result")
        self.box = self._wired_box()

    def _wired_box(self) -> Any:
        """The controls' handlers, and the box laying them out."""
        import ipywidgets as w

        self.preview_button.on_click(self._guard(self._on_preview))
        self.replay_button.on_click(self._guard(self._on_replay))
        for control in (
            self.entity,
            self.source,
            self.event_type,
            self.start,
            self.end,
            self.duplicates,
            self.target_kind,
            self.target_address,
            self.rate,
            self.resend,
        ):
            control.observe(lambda _change: self._sync_buttons(), names="value")
        scope_box = w.VBox(
            [
                self.entity,
                w.HBox([self.source, self.event_type]),
                w.HBox([self.start, self.end]),
                self.duplicates,
                w.HBox([self.target_kind, self.target_address]),
                w.HBox([self.rate, self.resend]),
            ]
        )
        buttons = w.HBox([self.preview_button, self.replay_button, self.confirm])
        box = _box_class()(
            [
                w.HTML("<h3>Replay</h3>"),
                scope_box,
                buttons,
                self.status,
                self.preview_view,
                self.progress_bar,
                self.progress_view,
                self.result_view,
            ]
        )
        box.add_class("pik-replay-widget")
        return box

    @staticmethod
    def _html(css: str) -> w.HTML:
        import ipywidgets as w

        widget = w.HTML()
        widget.add_class(css)
        return widget

    def scope(self) -> Scope:
        value = lambda control: control.value.strip() or None  # noqa: E731
        kind = self.target_kind.value
        return Scope(
            start=self.start.value.strip(),
            end=self.end.value.strip(),
            entity_id=value(self.entity),
            source=value(self.source),
            event_type=value(self.event_type),
            include_duplicates=self.duplicates.value,
            target={kind: self.target_address.value.strip()} if kind else None,
            rate_per_second=self.rate.value or None,
            resend=bool(kind) and self.resend.value,
        )

    def _guard(self, action: Callable[[], None]) -> Callable[[Any], None]:
        """Run a click handler; any error becomes one readable line in the widget."""

        def handler(_button: Any) -> None:
            try:
                action()
            except Exception as exc:  # shown to the person, never as a traceback
                self._say(f"{type(exc).__name__}: {exc}" if not isinstance(exc, FlowError) else str(exc), error=True)
                self._sync_buttons()

        return handler

    def _say(self, message: str, *, error: bool = False) -> None:
        css = "pik-error" if error else "pik-info"
        color = "#b00020" if error else "#333"
        self.status.value = f'<div class="{css}" style="color:{color}">{html.escape(message)}</div>'

    def _sync_buttons(self) -> None:
        self.resend.layout.display = "" if self.target_kind.value else "none"
        ready = self.flow.can_replay(self.scope()) and self.flow.run is None
        self.replay_button.disabled = not ready
        asked = ready and self.flow.needs_confirmation()
        self.confirm.layout.display = "" if asked else "none"
        if asked:
            self.confirm.description = (
                f"I confirm sending {to_send(self.flow.preview_run)} events to {self.flow.destination()}"
            )

    def _check_times(self) -> None:
        """Bad dates are refused with the CLI's sentence (``pik.core.timefmt.parse_bound``), before any request."""
        for name, control in (("start", self.start), ("end", self.end)):
            try:
                parse_bound(control.value)
            except ValueError as exc:
                raise FlowError(f"{name}: {exc}") from None

    def _on_preview(self) -> None:
        self._check_times()
        self.preview_button.disabled = True
        self._say("Previewing (dry run)…")
        try:
            run = self.flow.preview(self.scope())
        finally:
            self.preview_button.disabled = False
        self.preview_view.value = _preview_html(run)
        self.result_view.value = self.progress_view.value = ""
        if run["matched"] and not to_send(run):
            self._say(
                f"Dry run {run['replay_id']}: {run.get('target')} already has all {run['matched']} events of "
                "this scope, so Replay stays disabled; tick 'send again' to resend them.",
                error=True,
            )
        elif run["matched"]:
            impact = run.get("impact")
            change = "" if impact is None else f" (aggregate values changed: {impact.attrs.get('changed', 0)})"
            lacking = (
                "" if to_send(run) == run["matched"] else f" ({run['matched']} matched; the target has the others)"
            )
            self._say(
                f"Dry run {run['replay_id']}: {to_send(run)} events would be replayed{lacking}{change}. "
                "Nothing was sent."
            )
        else:
            self._say(
                f"Nothing matched: no events of this scope in the window ({run['scanned']} scanned), so "
                "Replay stays disabled. Check the entity or source/type and the window.",
                error=True,
            )
        self._sync_buttons()

    def _on_replay(self) -> None:
        self.replay_button.disabled = True  # a second click finds the button disabled; the token covers races
        scope = self.scope()
        run = self.flow.replay(scope, confirmed=self.confirm.value)
        skipped = f"; skipped {run['skipped']} the target already had" if run.get("skipped") else ""
        self._say(
            f"Replay {run['replay_id']} sent {run['sent']} messages to {run.get('target')} ({run['status']}"
            + (f", stopped: {run['stopped']}" if run.get("stopped") not in (None, StopReason.COMPLETED) else "")
            + f"{skipped})."
        )
        self.progress_view.value = _delivered_html(self.flow.delivered())
        if scope.external:  # delivered synchronously: the counts are the progress; no processor, no diff
            return
        self.progress_bar.max = max(1, run["sent"])
        self.progress_bar.layout.display = ""
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        """Poll queue depths until the processor drained the run, then show the diff."""
        deadline = time.monotonic() + self.timeout_seconds
        try:
            while True:
                progress = self.flow.progress()
                self._show_progress(progress)
                if progress.drained:
                    break
                if time.monotonic() > deadline:
                    self._say("The processor has not drained the queue yet; is it running?", error=True)
                    return
                time.sleep(self.poll_seconds)  # UI polling interval
            self.result_view.value = _diffs_html(self.flow.diffs(self.metric))
            self._say(
                f"Replay {self.flow.run['replay_id']} processed: {progress.processed} messages, "
                f"{progress.dead_lettered} in the DLQ."
            )
        except Exception as exc:  # the thread must report, not die silently
            self._say(f"{type(exc).__name__}: {exc}", error=True)

    def _show_progress(self, progress: Progress) -> None:
        self.progress_bar.value = min(progress.processed, self.progress_bar.max)
        self.progress_view.value = _delivered_html(self.flow.delivered()) + (
            f'<span class="pik-sent">sent {progress.sent}</span> · <span class="pik-processed">processed '
            f'{progress.processed}</span> · <span class="pik-dlq">DLQ {progress.dead_lettered}</span>'
        )


def _preview_html(run: dict) -> str:
    by_day = run.get("by_day") or {}
    peak = max(by_day.values(), default=0) or 1
    bars = "".join(_BAR.format(day=day, pct=100 * n / peak, count=n) for day, n in sorted(by_day.items()))
    samples = ", ".join(f"<code>{html.escape(e[:12])}…</code>" for e in run.get("sample_event_ids") or [])
    rate = (run.get("request") or {}).get("rate_per_second")
    pace = f" at most {rate:g} events/s" if rate else " unpaced"
    return (
        f'<div><b>matched</b> <span class="pik-matched">{run["matched"]}</span> of '
        f'<span class="pik-scanned">{run["scanned"]}</span> scanned; would send '
        f'<span class="pik-would-send">{to_send(run)}</span> to '
        f'<span class="pik-target">{html.escape(run.get("target") or "replay_queue")}</span>{pace}</div>'
        + _already_html(run)
        + f'<table class="pik-by-day">{bars}</table><div>sample events: {samples or "none"}</div>'
        + _impact_html(run.get("impact"))
    )


def _already_html(run: dict) -> str:
    """What the external target already got of the selected events (pik's delivery records), and that
    executing sends it only what it lacks; nothing for the stack's processor (not tracked)."""
    seen = run.get("already_delivered")
    if seen is None:
        return ""
    target = html.escape(run.get("target") or "")
    if not seen.get("count"):
        return f'<div class="pik-already">already delivered to {target}: <span class="pik-already-count">0</span></div>'
    runs = ", ".join(
        f"{html.escape(r['replay_id'])} ({r['count']}, last at {html.escape(r['last_at'])})"
        for r in seen.get("runs", [])
    )
    runs += f" and {seen['other_runs']} by other runs" if seen.get("other_runs") else ""
    then = (
        "<b>resend</b>: Replay sends them again"
        if (run.get("request") or {}).get("resend")
        else "an external target is sent only what it lacks: Replay skips them"
    )
    return (
        f'<div class="pik-already">already delivered to {target}: <span class="pik-already-count">'
        f"{seen['count']}</span> of the {run['matched']} selected events, by {runs}; {then}</div>"
    )


IMPACT_SHOWN = 20  # changed (entity, day, metric) rows in the table; run["impact"] has them all


def _impact_html(impact: Any) -> str:
    """The dry run's impact preview: what the processor would write, per changed (entity, day, metric)."""
    if impact is None:
        return ""
    info, changed = impact.attrs, impact[impact["changed"]]
    days = len(changed[["entity_id", "day"]].drop_duplicates())
    head = (
        f'<div class="pik-impact-summary"><b>impact on aggregates</b> (the processor\'s recompute): '
        f'metric values changed <span class="pik-impact-changed">{info.get("changed", 0)}</span> (in {days} of '
        f"{info.get('entity_days', 0)} entity-days), events entering or leaving {info.get('events_total', 0)}</div>"
    )
    if changed.empty:
        return head + (
            '<div class="pik-impact-none">No aggregate would change: the inputs and the code are '
            "those of the latest versions.</div>"
        )
    cells = ("entity_id", "day", "metric", "now", "after", "delta", "version", "entering")
    rows = "".join(
        "<tr>"
        + "".join(f'<td class="pik-impact-{name}">{html.escape(_cell(row, name))}</td>' for name in cells)
        + "</tr>"
        for row in changed.head(IMPACT_SHOWN).to_dict(orient="records")
    )
    more = (
        f'<div class="pik-impact-more">{len(changed) - IMPACT_SHOWN} more changes in run["impact"]</div>'
        if len(changed) > IMPACT_SHOWN
        else ""
    )
    partial = (
        ""
        if info.get("complete", True)
        else '<div class="pik-impact-incomplete">Incomplete preview: '
        f"{info.get('not_previewed', 0)} entity-days beyond its bound, {len(info.get('pending') or [])} "
        "not reached in time; narrow the scope for an exact preview.</div>"
    )
    header = "".join(f"<th>{name.replace('_', ' ')}</th>" for name in cells)
    return head + f'<table class="pik-impact"><tr>{header}</tr>{rows}</table>' + more + partial


def _cell(row: dict, name: str) -> str:
    import pandas as pd  # loaded already: the impact is a frame

    if name == "version":
        now = row["version_now"]
        return f"v{row['version_after']} (first)" if pd.isna(now) else f"v{now} → v{row['version_after']}"
    value = row[name]
    if name in ("now", "after", "delta"):
        return "none" if pd.isna(value) else (f"{value:+g}" if name == "delta" else f"{value:g}")
    return str(value)


def _delivered_html(counts: dict) -> str:
    rows = "".join(
        f'<tr><td class="pik-target-name">{html.escape(name)}</td><td class="pik-target-sent">{c["sent"]}</td>'
        f'<td class="pik-target-failed">{c["failed"]}</td><td class="pik-target-retried">{c["retried"]}</td>'
        f'<td class="pik-target-skipped">{c.get("skipped", 0)}</td></tr>'
        for name, c in counts.items()
    )
    return (
        f'<table class="pik-target-counts"><tr><th>target</th><th>sent</th><th>failed</th><th>retried</th>'
        '<th title="already delivered to this target: not sent again">skipped</th></tr>'
        f"{rows}</table>"
    )


def _diffs_html(diffs: list[Any]) -> str:
    if not diffs:
        return (
            '<div class="pik-no-diff">No new version; inputs unchanged: the aggregates already counted '
            "exactly these events.</div>"
        )
    parts = [d._repr_html_() if hasattr(d, "_repr_html_") else f"<pre>{html.escape(str(d))}</pre>" for d in diffs]
    return "<h4>Aggregate changes</h4>" + "".join(parts)
