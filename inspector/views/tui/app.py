"""The tokentax TUI: one screen, one refresh timer, figures from one analyzer.

Why one timer: events can arrive at thousands a second. The stream reader only feeds
the Feed (plain Python, no Textual messages); every `1/refresh_hz` seconds `_tick`
reads the Feed and updates all widgets inside one `batch_update()`, so the cost of the
UI depends on the refresh rate and the terminal size, not on the event rate.

Live, the KPIs, rates, tokens and findings come from the proxy's `summary` reports;
from a file, from the local analyzer's snapshot. The flows list and the waterfall read
the local analyzer's flow ring and hop correlation in both cases.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from inspector.live.stream_client import StreamClient
from inspector.schema.events import Event
from inspector.views.format import Clock
from inspector.views.tui.components.authcalls import AuthCallsSummary
from inspector.views.tui.components.detail import DetailPane, detail_renderable
from inspector.views.tui.components.dialogs import EXPORT_FORMATS, ExportScreen, HelpScreen
from inspector.views.tui.components.findings import FindingsView
from inspector.views.tui.components.flow_list import FlowHeader, FlowList
from inspector.views.tui.components.headline import Headline, findings_label
from inspector.views.tui.components.kpi import KpiStrip
from inspector.views.tui.components.rates import Rates
from inspector.views.tui.components.recent import ORDERS, RecentRequests, latest_inbound
from inspector.views.tui.components.sources import TOTAL, SourcesTable
from inspector.views.tui.components.status import StatusBar
from inspector.views.tui.components.tokens import TokensTable
from inspector.views.tui.components.waterfall import HopRow, Waterfall
from inspector.views.tui.config import TuiConfig, save_theme
from inspector.views.tui.feed import Feed, MultiFeed
from inspector.views.tui.filtering import compile_filter

TABS = ("flows", "tokens", "timing", "findings")
MULTI_TABS = TABS + ("sources",)
# Live, thousands of events a second keep thousands of dicts alive in the flow ring; with
# Python's default thresholds (700, 10, 10) that means a full garbage collection every few
# seconds, each a pause of 100-200 ms (measured in bench/tui.py). Collecting less often
# keeps the pauses out of nearly every frame. Restored when the app ends.
LIVE_GC_THRESHOLDS = (10_000, 20, 50)


class MitmChild(Protocol):
    """The mitmdump child a live TUI was started with (inspector.mitm.launch.Mitmdump), as
    far as the UI reads it: views never start processes, commands hand one in."""

    @property
    def exit_status(self) -> int | None: ...

    @property
    def stream(self) -> str | None: ...

    def last_words(self) -> str: ...


class FilterInput(Input):
    """The flow filter; escape hands the keyboard back to the flows list."""

    BINDINGS = [Binding("escape", "leave", "Back to flows", show=False)]

    def action_leave(self) -> None:
        self.screen.query_one(FlowList).focus()


class TokentaxApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tokentax"
    # -narrow: the detail pane folds under the list and shows only with a selection;
    # -short: the rate sparklines go, the list keeps its rows.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-medium"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    COMMAND_PALETTE_DISPLAY = "ctrl+p"
    # Every binding has an id: a keymap in the config file ([keys] id = "keys") remaps it.
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause", id="pause"),
        Binding("slash", "focus_filter", "Filter", id="filter"),
        Binding("s", "save", "Save", id="save"),
        Binding("e", "export", "Export", id="export"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_now"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="interrupt"),
        Binding("o", "recent_order", "Slowest/newest", show=False, id="recent_order"),
        Binding("g", "toggle_group", "Group", show=False, id="group"),
        Binding("1", "tab('flows')", "Flows", show=False, id="tab_flows"),
        Binding("2", "tab('tokens')", "Auth calls", show=False, id="tab_auth"),
        Binding("3", "tab('timing')", "Timing", show=False, id="tab_timing"),
        Binding("4", "tab('findings')", "Findings", show=False, id="tab_findings"),
        Binding("5", "tab('sources')", "Sources", show=False, id="tab_sources"),
    ]

    def __init__(
        self,
        feed: Feed | MultiFeed,
        *,
        client: StreamClient | None = None,
        clients: list[StreamClient] | None = None,
        child: MitmChild | None = None,
        clock: Clock | None = None,
        out_dir: Path | None = None,
        refresh_hz: float = 5.0,
        config: TuiConfig | None = None,
    ) -> None:
        """`client` reads the one stream of a Feed; `clients[i]` reads source i of a MultiFeed."""
        super().__init__()
        self.feed = feed
        self.clients: list[StreamClient] = list(clients or ([client] if client is not None else []))
        if len(self.clients) > len(feed.sources):
            raise ValueError("more stream clients than the feed has sources")
        self.client = self.clients[0] if self.clients else None
        self.child = child
        self.clock = clock or Clock()
        self.out_dir = out_dir or Path.cwd()
        self.refresh_hz = refresh_hz
        self.config = config  # None (tests): no keymap, and a theme change is not remembered
        self.recent_order = ORDERS[0]
        self.screenshots: list[Path] = []
        self._findings_label = ""
        self._recent_at = 0.0
        self.paused = False
        self.filter_error = ""
        self.last_saved: Path | None = None
        self.saved_paths: list[Path] = []
        self.last_export: Path | None = None
        self.last_message = ""
        self.tick_ms: deque[float] = deque(maxlen=100_000)  # duration of each timer update (bench)
        self.ticks = 0
        self._report: dict[str, Any] | None = None
        self._tab_shown: dict[str, Any] = {}
        self._selected: Event | None = None
        self._waterfall_key: tuple[str, int] | None = None
        self._gc_before: tuple[int, ...] | None = None
        self._widgets_up = False  # widgets mounted and not yet torn down: the timer may touch them
        for i, c in enumerate(self.clients):
            c.on_state = lambda state, reason, i=i: self.feed.set_source_state(i, state, reason)

    # -- layout ------------------------------------------------------------------------

    def main(self, selector: Any, expect: Any = None) -> Any:
        """query_one on the main screen, also while a dialog or the command palette is on top
        (App.query_one looks at the current screen only)."""
        screen = self.screen_stack[0] if self.screen_stack else self.screen
        return screen.query_one(selector, expect) if expect is not None else screen.query_one(selector)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield KpiStrip(id="kpis")
        yield Headline(id="headline")
        yield Rates(id="rates")
        with TabbedContent(id="tabs", initial="flows"):
            with TabPane("Flows", id="flows"):
                example = "~d auth & ~m POST"
                if isinstance(self.feed, MultiFeed):
                    example = f"source:{self.feed.names[0].rsplit(':', 1)[-1]} ~m POST"
                yield FilterInput(
                    # fits 80 columns whole: the keys are the point of the hint
                    placeholder=f"filter: {example} · / focus · enter apply · esc leave · ? syntax",
                    id="filter",
                )
                yield Static("", id="filter-error")
                with Horizontal(id="flows-body"):
                    with Vertical(id="flows-main"):
                        yield FlowHeader(id="flow-header")
                        yield FlowList(self.feed, self.clock, id="flow-list")
                    yield DetailPane(id="detail")
            with TabPane("Auth calls", id="tokens"):
                with VerticalScroll(id="auth-scroll"):
                    yield AuthCallsSummary(id="auth-summary")
                    yield TokensTable(self.clock, id="tokens-table")
            with TabPane("Timing", id="timing"):
                with VerticalScroll(id="timing-scroll"):
                    yield Waterfall(self.clock, id="waterfall")
                    yield Static("", id="recent")
            with TabPane("Findings", id="findings"):
                yield FindingsView(id="findings-view")
            if self.feed.multi:
                with TabPane("Sources", id="sources"):
                    yield SourcesTable(id="sources-table")
        yield Footer()

    def on_mount(self) -> None:
        self._apply_config()
        self.main(DetailPane).show(detail_renderable(None, self.clock))
        self.main(Waterfall).show(None, [])
        self.main(FlowList).focus()
        if self.clients:
            self._gc_before = gc.get_threshold()
            gc.set_threshold(*LIVE_GC_THRESHOLDS)
        for i, client in enumerate(self.clients):
            self.run_worker(self._pump(i, client), name=f"stream-{i}", group="stream", exit_on_error=False)
        self._widgets_up = True
        self._tick()
        self.set_interval(1.0 / self.refresh_hz, self._tick, name="refresh")

    async def _pump(self, i: int, client: StreamClient) -> None:
        """One stream's reader: its events into the Feed, nothing else (no message per event).
        Each source has its own reader and reconnect loop, so one dying does not stall the others."""
        ingest = self.feed.ingest_from
        async for batch in client.batches():
            ingest(i, batch)

    async def on_unmount(self) -> None:
        self._widgets_up = False
        if self._gc_before is not None:
            gc.set_threshold(*self._gc_before)
        for client in self.clients:
            client.close()

    # -- the one timer -----------------------------------------------------------------

    def _child_note(self) -> str:
        if self.child is None:
            return ""
        status = self.child.exit_status
        if status is None:
            return ""
        why = self.child.last_words()
        return f"mitmdump exited with status {status}" + (f": {why}" if why else "") + "; quit and start again"

    def _tick(self) -> None:
        # Shutdown pops the screens before on_unmount clears _widgets_up: a tick can land
        # in between (CI saw ScreenStackError there), so no screen means nothing to update.
        if not self._widgets_up or self._exit or not self.screen_stack:
            return
        started = time.perf_counter()
        try:
            self._update()
        except NoMatches:  # the screen is being torn down under a late timer tick
            return
        self.ticks += 1
        self.tick_ms.append((time.perf_counter() - started) * 1000.0)

    def _update(self) -> None:
        with self.batch_update():
            self.main(StatusBar).show(self.feed, self.paused, self._child_note())
            if not self.paused:
                report = self.feed.report()
                if report is not self._report:
                    self._report = report
                    self.main(KpiStrip).show(report)
                    self.main(Rates).show(report)
                    findings = report.get("findings") or []
                    self.main(Headline).show(findings)
                    label = findings_label(findings)
                    if label != self._findings_label:
                        self._findings_label = label
                        self.main(TabbedContent).get_tab("findings").label = label
                self._refresh_tab()
                self.main(FlowList).sync()
                self._refresh_waterfall()

    def _active_tab(self) -> str:
        return self.main(TabbedContent).active or "flows"

    def _refresh_tab(self, force: bool = False) -> None:
        """Tokens and findings are rebuilt only while visible and when the report changed."""
        report = self._report
        if report is None:
            return
        tab = self._active_tab()
        if not force and self._tab_shown.get(tab) is report:
            return
        self._tab_shown[tab] = report
        if tab == "tokens":
            self.main(AuthCallsSummary).show(report)
            self.main(TokensTable).show(report)
        elif tab == "findings":
            self.main(FindingsView).show(report)
        elif tab == "sources" and isinstance(self.feed, MultiFeed):
            self.main(SourcesTable).show(self.feed, report)

    # -- selection, detail, waterfall --------------------------------------------------

    @on(FlowList.Highlighted)
    def _flow_highlighted(self, message: FlowList.Highlighted) -> None:
        self._selected = message.event
        self._show_selected()

    def _inbound_for(self, ev: Event | None) -> tuple[Event | None, str]:
        """The inbound request a selected flow belongs to, and a line saying how we know."""
        if ev is None:
            return None, ""
        if ev.get("role") == "inbound":
            return ev, ""
        src = self.feed.feed_of(ev)  # correlation is per source: hops pair with their own proxy's requests
        corr = src.correlation_of(str(ev.get("id")))
        if corr is None:
            return None, "not correlated with an inbound request (no trace id, or ambiguous in time)"
        inbound_id, mode = corr
        found = self.feed.find({inbound_id})
        how = f"{mode}: part of inbound request {inbound_id}"
        return found.get(inbound_id), how

    def _why(self, ev: Event | None) -> dict[str, Any] | None:
        """The analyzer's reason a callout was redundant (None for any other flow)."""
        if ev is None or ev.get("role") != "callout":
            return None
        return self.feed.feed_of(ev).analyzer.why_redundant(str(ev.get("id")))

    def _show_selected(self) -> None:
        ev = self._selected
        _, how = self._inbound_for(ev)
        self.main(DetailPane).show(detail_renderable(ev, self.clock, how, self._why(ev), self.feed.restart_note(ev)))
        self.main("#flows-body").set_class(ev is not None, "-selected")
        self._waterfall_key = None
        self._refresh_waterfall()

    def _refresh_waterfall(self) -> None:
        if self._active_tab() != "timing":
            # Hidden: nothing to draw. Its height follows its content, so each new request it
            # showed asked for a layout of the whole screen (about 50 ms at 160x45, profiled in
            # bench/tui.py): it is drawn when the Timing tab is shown instead.
            self._waterfall_key = None
            return
        ev = self._selected
        inbound, how = self._inbound_for(ev)
        latest = False
        if ev is None:
            inbound, latest = latest_inbound(self.feed), True  # nothing selected: the newest request
        if inbound is None:
            key = ("", 0)
            if key != self._waterfall_key:
                self._waterfall_key = key
                self.main(Waterfall).show(None, [], how)
            self._refresh_recent()
            return
        src = self.feed.feed_of(inbound)
        hops = src.hops_for(str(inbound.get("id")))
        key = (str(inbound.get("id")), len(hops))
        if key != self._waterfall_key:
            self._waterfall_key = key
            found = self.feed.find({h.id for h in hops})
            rows = [HopRow(h.mode, found.get(h.id), self._why(found.get(h.id))) for h in hops]
            if latest:
                note = "the latest request (select a flow in Flows to pin one)"
            else:
                note = f"selected hop: {how}" if ev is not inbound and how else ""
            self.main(Waterfall).show(inbound, rows, note)
        self._refresh_recent()

    def _refresh_recent(self, force: bool = False) -> None:
        """The recent requests' list: only while the Timing tab shows, at most once a second."""
        if self._active_tab() != "timing":
            return
        now = time.monotonic()
        if not force and now - self._recent_at < 1.0:
            return
        self._recent_at = now
        self.main("#recent", Static).update(RecentRequests(self.feed, self.clock, self.recent_order))

    def action_recent_order(self) -> None:
        self.recent_order = ORDERS[(ORDERS.index(self.recent_order) + 1) % len(ORDERS)]
        self._refresh_recent(force=True)

    # -- filter ------------------------------------------------------------------------

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, message: Input.Submitted) -> None:
        self.apply_filter(message.value)
        if not self.filter_error:
            self.main(FlowList).focus()

    def apply_filter(self, text: str) -> bool:
        """Parse and apply a filter; a bad one shows its error and leaves the list as it was."""
        error = self.main("#filter-error", Static)
        field = self.main("#filter", Input)
        try:
            flt = compile_filter(text, self.source_names())
        except ValueError as exc:
            self.filter_error = str(exc)
            error.update(f"✖ {exc}")
            field.add_class("-invalid")
            error.add_class("-shown")
            return False
        self.filter_error = ""
        error.update("")
        error.remove_class("-shown")
        field.remove_class("-invalid")
        self.main(FlowList).set_filter(flt)
        return True

    def source_names(self) -> list[tuple[str, str]]:
        """(address, short name) of each attached stream, for `source:NAME` in the filter."""
        if isinstance(self.feed, MultiFeed):
            return list(zip(self.feed.names, self.feed.shorts))
        return [(self.feed.source, self.feed.source)] if self.feed.kind != "file" else []

    @on(DataTable.RowSelected, "#sources-table")
    def _source_selected(self, message: DataTable.RowSelected) -> None:
        """Enter on a source: the flows list shows that source only (the total row shows all)."""
        name = str(message.row_key.value)
        text = "" if name == TOTAL else f"source:{name}"
        self.main("#filter", Input).value = text
        if self.apply_filter(text):
            self.main(TabbedContent).active = "flows"
            self.main(FlowList).focus()

    # -- actions -----------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._tick()

    def action_toggle_group(self) -> None:
        """The flows list grouped by inbound request (its callouts and backend hops under it), or flat."""
        fl = self.main(FlowList)
        fl.set_grouped(not fl.grouped)
        self.main(FlowHeader).refresh()
        self.main(TabbedContent).active = "flows"
        if fl.grouped:
            self._say("flows grouped by inbound request, hops under the request that caused them (g: flat list)")
        else:
            self._say("flows listed as they ended (g: group by inbound request)")

    def action_focus_filter(self) -> None:
        self.main(TabbedContent).active = "flows"
        self.main("#filter", Input).focus()

    def action_tab(self, tab: str) -> None:
        if tab in self.tabs:
            self.main(TabbedContent).active = tab

    @property
    def tabs(self) -> tuple[str, ...]:
        return MULTI_TABS if self.feed.multi else TABS

    FOCUS_OF_TAB = {
        "flows": "#flow-list",
        "tokens": "#tokens-table",
        "timing": "#timing-scroll",
        "findings": "#findings-view",
        "sources": "#sources-table",
    }

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self._refresh_tab(force=True)
        tab = self._active_tab()
        if tab == "timing":
            self._refresh_waterfall()
            self._refresh_recent(force=True)
        # The arrow keys work at once after any tab switch: focus goes to the tab's own pane
        # (unless the user is typing in the filter).
        if not isinstance(self.focused, Input):
            try:
                self.main(self.FOCUS_OF_TAB[tab]).focus()
            except (KeyError, NoMatches):
                pass

    def action_help(self) -> None:
        self.push_screen(HelpScreen(multi=self.feed.multi))

    def _new_path(self, stem: str, ext: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.out_dir / f"{stem}-{stamp}.{ext}"
        n = 2
        while path.exists():
            path = self.out_dir / f"{stem}-{stamp}-{n}.{ext}"
            n += 1
        return path

    def _say(self, text: str, error: bool = False) -> None:
        self.last_message = text
        self.notify(text, severity="error" if error else "information", timeout=8)

    def action_save(self) -> None:
        if isinstance(self.feed, MultiFeed):
            self._save_each(self.feed)
            return
        path = self._new_path("tokentax-capture", "jsonl")
        try:
            n = self.feed.save(path)
        except OSError as exc:
            self._say(f"cannot save the capture to {path}: {exc.strerror or exc}", error=True)
            return
        self.last_saved = path
        self._say(f"saved {n} flows and the session to {path}")

    def _save_each(self, feed: MultiFeed) -> None:
        """One capture per source: each has its own session (fingerprint key) and is analysed alone."""
        saved: list[Path] = []
        flows = 0
        for i, src in enumerate(feed.sources):
            path = self._new_path("tokentax-capture-" + src.source.replace(":", "-"), "jsonl")
            try:
                flows += feed.save_source(i, path)
            except OSError as exc:
                self._say(f"cannot save the capture to {path}: {exc.strerror or exc}", error=True)
                return
            saved.append(path)
        self.last_saved = saved[0] if saved else None
        self.saved_paths = saved
        self._say(f"saved {flows} flows from {len(saved)} sources to " + ", ".join(str(p) for p in saved))

    def action_export(self) -> None:
        self.push_screen(ExportScreen(), self.export_report)

    def export_report(self, fmt: str | None) -> None:
        """Write the current report in `fmt` (md, json, html) with the report renderer."""
        if not fmt:
            return
        from inspector.views.report.render import render

        path = self._new_path("tokentax-report", fmt)
        try:
            text = render(self.feed.report(), fmt)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self._say(f"cannot write the report to {path}: {exc.strerror or exc}", error=True)
            return
        except (ImportError, ValueError, KeyError) as exc:
            self._say(f"cannot render the report as {fmt}: {exc}", error=True)
            return
        self.last_export = path
        self._say(f"exported the report to {path}")

    def action_quit(self) -> None:  # type: ignore[override]
        self.exit(0)

    def farewell(self) -> str:
        """What the commands print once the TUI has quit: what was saved where, or that nothing was."""
        lines = []
        captures = self.saved_paths or ([self.last_saved] if self.last_saved else [])
        for path in captures:
            lines.append(f"tokentax: capture saved to {path}")
        if self.last_export:
            lines.append(f"tokentax: report exported to {self.last_export}")
        for path in self.screenshots:
            lines.append(f"tokentax: screenshot saved to {path}")
        return "\n".join(lines) or "tokentax: nothing saved (s saves a capture, e exports a report)"

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots go where captures and reports go (the current directory), not to a
        Downloads folder that may not exist."""
        from textual._files import generate_datetime_filename

        folder = Path(path) if path else self.out_dir
        name = filename or generate_datetime_filename(self.title, ".svg", time_format)
        target = folder / name
        try:
            target.write_text(self.export_screenshot(), encoding="utf-8")
        except OSError as exc:
            self._say(f"cannot save the screenshot to {target}: {exc.strerror or exc}", error=True)
            return None
        self.screenshots.append(target)
        self._say(f"saved a screenshot to {target}")
        return str(target)

    # -- settings: keymap and theme (inspector.views.tui.config) -----------------------

    def _apply_config(self) -> None:
        cfg = self.config
        if cfg is None:
            return
        if cfg.keymap:
            self.set_keymap(cfg.keymap)
        if cfg.theme:
            if cfg.theme in self.available_themes:
                self.theme = cfg.theme
            else:
                cfg.problem = cfg.problem or f"{cfg.path}: unknown theme {cfg.theme!r}; using the default"
        if cfg.problem:
            self._say(cfg.problem, error=True)
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Any) -> None:
        cfg = self.config
        if cfg is None or theme.name == cfg.theme:
            return
        cfg.theme = theme.name
        try:
            save_theme(cfg.path, theme.name)
        except OSError as exc:
            self._say(f"cannot remember the theme in {cfg.path}: {exc.strerror or exc}", error=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Pause / resume display", "Freeze the screen; events keep being ingested", self.action_toggle_pause
        )
        yield SystemCommand("Filter flows", "Focus the mitmproxy filter expression", self.action_focus_filter)
        yield SystemCommand(
            "Group flows by request", "Each inbound request with its hops under it, or flat", self.action_toggle_group
        )
        yield SystemCommand("Save capture", "Write the flows the TUI holds as a JSONL capture", self.action_save)
        for ext, label in EXPORT_FORMATS:
            yield SystemCommand(
                f"Export report as {label}", f"Write the report as .{ext}", lambda ext=ext: self.export_report(ext)
            )
        yield SystemCommand("Help", "Keys and filter syntax", self.action_help)
        for tab in self.tabs:
            yield SystemCommand(
                f"Show {tab.capitalize()}", f"Switch to the {tab} tab", lambda tab=tab: self.action_tab(tab)
            )
