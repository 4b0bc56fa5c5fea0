"""The flows list: a virtual view over the Feed's bounded ring of flow events, newest first.

Why not a DataTable: it keeps a row object per line and falls behind above about 1,000
new rows a second. This is a `ScrollView` with `render_line` (Textual's Line API, as in
Toolong): it stores nothing per row and renders only the lines on screen, so its cost
per refresh is the height of the terminal, whatever the event rate.

Rows are addressed by *append number* k (the k-th flow event the Feed took). Row r of an
unfiltered view is k = count - 1 - r; a filtered view keeps a deque of the matching k.
`sync()`, called by the app's one timer, takes in the events that arrived since the last
call; between calls (and while paused) the rows on screen do not move. When the user has
scrolled away from the top or selected a row, the view stays on the same flows while new
ones arrive above; at the top with nothing selected it follows the newest.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from inspector.schema.events import Event
from inspector.views.format import Clock, ms
from inspector.views.tui.feed import Feed, MultiFeed
from inspector.views.tui.filtering import Matcher, matches
from inspector.views.tui.grouping import LABEL, MARK_WIDTH, Grouped, group, left_out_label, loose_label

# (name, title, width; None = a share of what is left). The order on screen.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("time", "ended", 12),
    ("role", "role", 8),
    ("kind", "kind", 13),
    ("method", "method", 6),
    ("host", "host", None),
    ("path", "path", None),
    ("status", "status", 6),
    ("total", "total", 9),
    ("token", "token", 16),
)
HOST_MAX = 21  # 127.0.0.1:65535 fits; long names are cut rather than squeezing the path
HOST_MIN, PATH_MIN = 15, 14  # below these, lower-priority columns give way first
HOST_LEAST, PATH_LEAST = 9, 10  # and below these, the line is simply too short
SOURCE_MIN = 6
# What gives way, in this order, when the line is too short: the token column (it is in
# the detail pane), milliseconds in the time, the kind column (folded into the role
# column as a short name), the method, then the time. Role, status and total never go,
# and numbers are never cut: the host and path shrink instead.
SHRINK = ("token", "millis", "kind", "method", "time")
KIND_SHORT = {
    "token": "token",
    "exchange": "exchange",
    "introspection": "introspc",
    "jwks": "jwks",
    "userinfo": "userinfo",
    "forward_auth": "fwd-auth",
}
NUMERIC = {"status", "total"}
# Grouped, the rows are laid out again from the newest flows (grouping.SCAN): at most this
# often, so a live list stays within its frame budget and rows move less.
GROUP_EVERY_S = 1.0


def columns(source_w: int = 0) -> tuple[tuple[str, str, int | None], ...]:
    """COLUMNS, with a `source` column after the time when several streams are attached."""
    if not source_w:
        return COLUMNS
    return COLUMNS[:1] + (("source", "source", source_w),) + COLUMNS[1:]


def layout(width: int, source_w: int = 0) -> list[tuple[str, str, int]]:
    """(name, title, width) of each shown column for a line `width` cells wide, one space
    between columns, shrinking by SHRINK until the line fits."""
    cols = {name: (title, w) for name, title, w in columns(source_w)}
    order = [name for name, _, _ in columns(source_w)]
    dropped: set[str] = set()
    widths = {name: w for name, (_, w) in cols.items() if w}

    def need() -> int:
        shown = [n for n in order if n not in dropped]
        fixed = sum(widths[n] for n in shown if n in widths)
        src = SOURCE_MIN if "source" in shown else 0
        return fixed - (widths.get("source", 0) - src if src else 0) + HOST_MIN + PATH_MIN + len(shown) - 1

    for step in SHRINK:
        if need() <= width:
            break
        if step == "millis":
            widths["time"] = 8  # HH:MM:SS
        else:
            dropped.add(step)
    shown = [n for n in order if n not in dropped]
    fixed = sum(widths[n] for n in shown if n in widths and n != "source") + len(shown) - 1
    rest = width - fixed
    if "source" in shown:
        src = max(SOURCE_MIN, min(widths["source"], rest - HOST_MIN - PATH_MIN))
        widths["source"] = src
        rest -= src
    rest = max(HOST_LEAST + PATH_LEAST, rest)
    widths["host"] = max(HOST_LEAST, min(HOST_MAX, max(HOST_MIN, (rest * 2) // 5), rest - PATH_LEAST))
    widths["path"] = max(PATH_LEAST, rest - widths["host"])
    return [(n, cols[n][0], widths[n]) for n in shown]


def column_widths(width: int, source_w: int = 0) -> list[int]:
    """Widths of columns(source_w) for a line `width` cells wide (0 = hidden)."""
    shown = {n: w for n, _, w in layout(width, source_w)}
    return [shown.get(n, 0) for n, _, _ in columns(source_w)]


def kind_of(ev: Event) -> str:
    """A callout's kind (captures from before kinds existed hold token callouts only)."""
    if ev.get("role") != "callout":
        return ""
    return str(ev.get("kind") or "token")


def token_of(ev: Event) -> str:
    """The token fingerprint a row shows: the one a callout got, the error it got instead,
    or the bearer a backend call carried."""
    tok = ev.get("token")
    if isinstance(tok, dict):
        if tok.get("fp"):
            return str(tok["fp"])
        if tok.get("error"):
            return "✖ " + str(tok["error"])
    bearer = ev.get("bearer")
    if isinstance(bearer, dict):
        return str(bearer.get("fp") or bearer.get("kind") or "")
    return ""


def fit(text: str, w: int, numeric: bool = False) -> str:
    """A cell `w` wide: numbers right-aligned; text cut with an ellipsis, never silently."""
    if numeric:
        return text.rjust(w)
    if len(text) <= w:
        return set_cell_size(text, w)
    return set_cell_size(text, w - 1) + "…"


def row_cells(ev: Event, clock: Clock, label: Callable[[Any], str] | None = None) -> dict[str, str]:
    """The cells of one row by column name; `label` names the source (several streams)."""
    err = ev.get("error")
    status = ev.get("status")
    status_text = (
        str(status) if status is not None else (str(err.get("kind", "error")) if isinstance(err, dict) else "-")
    )
    port = ev.get("port")
    total = (ev.get("timing") or {}).get("total")
    cells = {
        # Rows arrive, and are listed, in the order flows ended: the time shown is the end.
        "time": clock.time(ev.get("end") or ev.get("ts"), millis=True),
        "role": str(ev.get("role", "")),
        "kind": kind_of(ev),
        "method": str(ev.get("method") or "-"),
        "host": f"{ev.get('host') or '?'}:{port}" if port else str(ev.get("host") or "?"),
        "path": str(ev.get("path") or "-"),
        "status": status_text,
        "total": ms(total) if total is not None else "-",
        "token": token_of(ev),
    }
    if label is not None:
        cells["source"] = label(ev.get("source"))
    return cells


def shown_cells(
    ev: Event, clock: Clock, width: int, source_w: int = 0, label: Callable[[Any], str] | None = None
) -> list[tuple[str, str]]:
    """(column name, cell text sized to its column) of one row, as rendered."""
    cells = row_cells(ev, clock, label if source_w else None)
    cols = layout(width, source_w)
    names = {n for n, _, _ in cols}
    if dict((n, w) for n, _, w in cols).get("time", 12) < 12:  # no room for milliseconds
        cells["time"] = clock.time(ev.get("end") or ev.get("ts"))
    if "kind" not in names and cells["kind"]:
        cells["role"] = KIND_SHORT.get(cells["kind"], cells["kind"])  # a callout: its kind says more
    out = []
    for name, _, w in cols:
        text = cells.get(name, "")
        if name in NUMERIC and len(text) > w:
            text = text.replace(" ", "")  # "12345 ms" -> "12345ms": shorter, still whole
        out.append((name, fit(text, w, name in NUMERIC and len(text) <= w)))
    return out


def row_text(ev: Event, clock: Clock, width: int, source_w: int = 0, label: Callable[[Any], str] | None = None) -> str:
    """The plain text of one row, exactly as rendered (tests and the detail title use it)."""
    return " ".join(text for _, text in shown_cells(ev, clock, width, source_w, label))


def header_text(width: int, source_w: int = 0) -> str:
    return " ".join(fit(title, w, name in NUMERIC) for name, title, w in layout(width, source_w))


class FlowHeader(Static):
    """The column titles above the list, laid out by the same column_widths."""

    def render(self) -> str:
        lists = self.screen.query(FlowList)
        if not lists:
            return header_text(self.size.width)
        fl = lists.first()
        if fl.grouped:  # the rows start with a tree mark
            return " " * MARK_WIDTH + header_text(fl.line_width - MARK_WIDTH, fl.source_w)
        return header_text(fl.line_width, fl.source_w)


class FlowList(ScrollView, can_focus=True):
    """Newest-first flows; arrow keys, page keys and the mouse move the selection."""

    COMPONENT_CLASSES = {
        "flow-list--cursor",
        "flow-list--inbound",
        "flow-list--callout",
        "flow-list--backend",
        "flow-list--other",
        "flow-list--error",
        "flow-list--warn",
        "flow-list--dim",
        "flow-list--source",
    }
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "Newest", show=False),
        Binding("end", "last", "Oldest", show=False),
        Binding("escape", "unselect", "Follow newest", show=False),
    ]

    class Highlighted(Message):
        """The selected flow changed (by the user: keys or mouse). `event` is None when cleared."""

        def __init__(self, flow_list: FlowList, event: Event | None) -> None:
            super().__init__()
            self.flow_list = flow_list
            self.event = event

    def __init__(self, feed: Feed | MultiFeed, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed = feed
        self.clock = clock
        self.source_w = feed.source_width  # 0: one source, no source column
        self._label = getattr(feed, "label_of", None) if self.source_w else None
        self._count = 0  # feed.flows_seen at the last sync
        self._rows = 0
        self._filter: Matcher | None = None
        self._matches: deque[int] = deque()
        self._rebuild = False
        # Grouped by inbound request (toggle): the rows as inspector.views.tui.grouping lays them out
        self.grouped = False
        self._groups = Grouped()
        self._grouped_at = 0.0
        self.cursor_k: int | None = None
        self._styles: dict[str, Style] | None = None
        # Rendered rows by (append number, width, selected, tree mark): a flow event never
        # changes, so a row rendered once is reused while it scrolls down the screen.
        self._strips: LRUCache[tuple[int, int, bool, str | None], Strip] = LRUCache(1024)

    # -- data --------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._rows

    @property
    def filtered(self) -> bool:
        return self._filter is not None

    def set_filter(self, flt: Matcher | None) -> None:
        """Apply a parsed filter (None shows all); rows are rebuilt at the next sync."""
        self._filter = flt
        self._rebuild = True
        self.sync()

    def set_grouped(self, on: bool) -> None:
        """Group the rows by inbound request (True) or list flows as they ended (False)."""
        if on == self.grouped:
            return
        self.grouped = on
        self._rebuild = True
        self._strips.clear()
        self.sync()

    def sync(self) -> int:
        """Take in the flows that arrived since the last call. Returns the rows added."""
        feed = self.feed
        seen = feed.flows_seen
        held = feed.flows_held
        first = seen - held
        new = seen - self._count
        if new <= 0 and not self._rebuild:
            return 0
        if self.grouped:
            if not self._rebuild and time.monotonic() - self._grouped_at < GROUP_EVERY_S:
                return 0  # the new flows are taken in at the next layout
            return self._sync_grouped(seen)
        ring = feed.ring
        added = 0
        rebuilt = self._rebuild
        if self._filter is None:
            added = min(new, held)
            self._rows = held
            self._matches.clear()
        else:
            flt = self._filter
            if rebuilt:
                self._matches = deque(k for k, ev in enumerate(ring, start=first) if matches(flt, ev))
            else:
                n_new = min(new, held)
                fresh = list(itertools.islice(reversed(ring), n_new))
                start = seen - n_new
                for off, ev in enumerate(reversed(fresh)):
                    if matches(flt, ev):
                        self._matches.append(start + off)
                        added += 1
            while self._matches and self._matches[0] < first:
                self._matches.popleft()
            self._rows = len(self._matches)
        self._count = seen
        self._rebuild = False
        if self.cursor_k is not None and self.row_of(self.cursor_k) is None:
            self.cursor_k = None  # filtered out or evicted from the ring: say so once
            self.post_message(self.Highlighted(self, None))
        anchored = self.cursor_k is not None or self.scroll_y > 0
        self._set_virtual_rows(self._rows)
        if anchored and added and not rebuilt:
            self._scroll_y_to(self.scroll_y + added)
        self.refresh()
        return added

    def _sync_grouped(self, seen: int) -> int:
        """Lay the rows out again by request. New requests go on top and hops move under the
        request that claims them, so the view is anchored on the selected row (or the top
        row once scrolled), which keeps its place on screen."""
        anchor = self.cursor_k
        if anchor is None and self.scroll_y > 0:
            anchor = self._first_k_from(int(self.scroll_y))
        before = self.row_of(anchor) if anchor is not None else None
        offset = before - self.scroll_y if before is not None else 0
        flt = self._filter
        self._grouped_at = time.monotonic()
        self._groups = group(self.feed, (lambda ev: matches(flt, ev)) if flt is not None else None)
        old_rows = self._rows
        self._rows = len(self._groups.rows)
        self._count = seen
        self._rebuild = False
        if self.cursor_k is not None and self.row_of(self.cursor_k) is None:
            self.cursor_k = None
            self.post_message(self.Highlighted(self, None))
        self._set_virtual_rows(self._rows)
        after = self.row_of(anchor) if anchor is not None else None
        if after is not None:
            self._scroll_y_to(after - offset)
        self.refresh()
        return max(0, self._rows - old_rows)

    def _first_k_from(self, row: int) -> int | None:
        """The append number of the first flow row at or below `row` (label rows hold none)."""
        for r in range(row, self._rows):
            k = self.k_of_row(r)
            if k is not None:
                return k
        return None

    def is_label(self, row: int) -> bool:
        return self.grouped and 0 <= row < self._rows and self._groups.rows[row][0] == LABEL

    def mark_of_row(self, row: int) -> str | None:
        """The tree mark in front of a row when grouped (None in the flat list)."""
        if not self.grouped or not 0 <= row < self._rows:
            return None
        return self._groups.rows[row][1]

    def k_of_row(self, row: int) -> int | None:
        if not 0 <= row < self._rows:
            return None
        if self.grouped:
            k = self._groups.rows[row][0]
            return None if k == LABEL else k
        if self._filter is None:
            return self._count - 1 - row
        return self._matches[len(self._matches) - 1 - row]

    def row_of(self, k: int) -> int | None:
        if self.grouped:
            return self._groups.index.get(k)
        if self._filter is None:
            row = self._count - 1 - k
            return row if 0 <= row < self._rows else None
        i = bisect.bisect_left(self._matches, k)
        if i < len(self._matches) and self._matches[i] == k:
            return len(self._matches) - 1 - i
        return None

    def event_of_row(self, row: int) -> Event | None:
        k = self.k_of_row(row)
        return self.feed.event_at(k) if k is not None else None

    @property
    def selected(self) -> Event | None:
        return self.feed.event_at(self.cursor_k) if self.cursor_k is not None else None

    @property
    def cursor_row(self) -> int | None:
        return self.row_of(self.cursor_k) if self.cursor_k is not None else None

    # -- rendering ---------------------------------------------------------------------

    def notify_style_update(self) -> None:
        # Focus, theme or CSS changed: styles and rendered lines must be worked out again.
        super().notify_style_update()
        self._styles = None
        if hasattr(self, "_strips"):  # may be called before __init__ has finished
            self._strips.clear()

    def _load_styles(self) -> dict[str, Style]:
        """Component styles and the base style, looked up once per style change, not per line
        (Widget.rich_style walks the ancestors: about half a millisecond a call)."""
        if self._styles is None:
            styles = {
                name.split("--", 1)[1]: self.get_component_rich_style(name, partial=True)
                for name in self.COMPONENT_CLASSES
            }
            styles["base"] = self.rich_style
            self._styles = styles
        return self._styles

    def _set_virtual_rows(self, rows: int) -> None:
        """Change the scrollable height without a layout pass of the whole screen.

        Assigning `virtual_size` asks Textual for a layout, and a layout repaints every
        widget (about 60 ms here); that would happen on each tick while the ring fills.
        The list's own size does not change and its scrollbars are fixed by the styles
        (overflow-y: scroll, overflow-x: hidden), so updating the scrollbar is enough.
        """
        size = Size(self.line_width, rows)
        if size == self.virtual_size:
            return
        self.set_reactive(FlowList.virtual_size, size)
        self._scroll_update(size)

    @property
    def line_width(self) -> int:
        return self.scrollable_content_region.width

    def on_resize(self) -> None:
        self.virtual_size = Size(self.line_width, self._rows)

    def render_line(self, y: int) -> Strip:
        width = self.line_width
        row = self.scroll_offset.y + y
        k = self.k_of_row(row)
        ev = self.feed.event_at(k) if k is not None else None
        st = self._load_styles()
        base = st["base"]
        if self.is_label(row):
            g = self._groups
            last = g.rows[row][1] == "end"
            text = fit(left_out_label(g.left_out, g.scan) if last else loose_label(g.loose), width)
            return Strip([Segment(text, base + st.get("dim", Style.null()))]).adjust_cell_length(width, base)
        if ev is None or k is None:
            return Strip.blank(width, base)
        selected = k == self.cursor_k
        mark = self.mark_of_row(row)
        key = (k, width, selected, mark)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        strip = self._render_row(ev, width, selected, st, mark)
        self._strips[key] = strip
        return strip

    def _row_styles(self, role: str, status_class: str, selected: bool, st: dict[str, Style]) -> dict[str, Style]:
        """The style of each column for one kind of row, combined once and kept with the styles."""
        key = f"_row:{role}:{status_class}:{selected}"
        cached = st.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        base = st["base"]
        null = Style.null()
        dim = st.get("dim", null)
        status_style = st.get(status_class, null) if status_class else null
        role_style = st.get(role, null)
        cols = {
            "time": dim,
            "source": st.get("source", null),
            "role": role_style,
            "kind": role_style,
            "status": status_style,
            "token": st.get("error", null) if status_class else dim,
        }
        if selected:
            over = st.get("cursor", Style(reverse=True))
            base = base + over
            cols = {name: cs + over for name, cs in cols.items()}
            null = over
        styles = {name: base + cs for name, cs in cols.items()}
        styles[""] = base
        styles["_null"] = base + null
        st[key] = styles  # type: ignore[assignment]
        return styles

    def _render_row(
        self, ev: Event, width: int, selected: bool, st: dict[str, Style], mark: str | None = None
    ) -> Strip:
        status = ev.get("status")
        tok = ev.get("token")
        if ev.get("error") or (isinstance(status, int) and status >= 500):
            status_class = "error"
        elif (isinstance(status, int) and status >= 400) or (isinstance(tok, dict) and tok.get("error")):
            status_class = "warn"
        else:
            status_class = ""
        styles = self._row_styles(str(ev.get("role")), status_class, selected, st)
        base = styles[""]
        plain = styles["_null"]
        segments: list[Segment] = []
        space = Segment(" ", base)
        restart = bool(self.feed.restart_note(ev))
        cells_w = width
        if mark is not None:  # grouped: a tree mark, then the row, narrower by its width
            segments.append(Segment(mark.ljust(MARK_WIDTH), styles["time"]))
            cells_w -= MARK_WIDTH
        for i, (name, text) in enumerate(shown_cells(ev, self.clock, cells_w, self.source_w, self._label)):
            if i:
                segments.append(space)
            if restart and name == "time":  # the first flow after a mitmdump restart
                segments.append(Segment("↻" + text[1:], styles.get("_null", plain) + Style(color="yellow", bold=True)))
                continue
            segments.append(Segment(text, styles.get(name, plain)))
        return Strip(segments).adjust_cell_length(width, base)

    # -- selection ---------------------------------------------------------------------

    def _select_row(self, row: int | None, step: int = 1) -> None:
        if row is None or self._rows == 0:
            self.cursor_k = None
        else:
            row = max(0, min(self._rows - 1, row))
            if self.is_label(row):  # a label row (hops under no request, flows left out): step over it
                row = row + step if 0 <= row + step < self._rows and not self.is_label(row + step) else row - step
            self.cursor_k = self.k_of_row(row)
            height = self.scrollable_content_region.height
            if row < self.scroll_y:
                self._scroll_y_to(row)
            elif height and row >= self.scroll_y + height:
                self._scroll_y_to(row - height + 1)
        self.refresh()
        self.post_message(self.Highlighted(self, self.selected))

    def action_cursor(self, delta: int) -> None:
        row = self.cursor_row
        self._select_row(0 if row is None else row + delta, 1 if delta >= 0 else -1)

    def action_page(self, delta: int) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        row = self.cursor_row
        self._select_row((0 if row is None else row) + delta * page, 1 if delta >= 0 else -1)

    def action_first(self) -> None:
        self._select_row(0)

    def action_last(self) -> None:
        self._select_row(self._rows - 1, -1)

    def _scroll_y_to(self, y: float) -> None:
        self.set_scroll(None, max(0, min(self.max_scroll_y, y)))

    def action_unselect(self) -> None:
        self._scroll_y_to(0)
        self._select_row(None)

    def select_row(self, row: int) -> None:
        """Select the row at `row` (0 = newest), as a click would."""
        self._select_row(row)

    def on_focus(self) -> None:
        # Where the keys go is shown on the pane's title bar (CSS `#flows-main.-focused`);
        # a class, because :focus-within does not restyle a sibling of the focused widget.
        if self.parent is not None:
            self.parent.set_class(True, "-focused")

    def on_blur(self) -> None:
        if self.parent is not None:
            self.parent.set_class(False, "-focused")

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = self.scroll_offset.y + offset.y
        if row < self._rows:
            self._select_row(row)
