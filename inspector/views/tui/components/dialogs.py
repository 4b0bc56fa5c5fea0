"""Modal screens: help (keys and filter syntax) and the export format chooser."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from inspector.views.tui.config import config_path
from inspector.views.tui.filtering import help_rows

BINDING_IDS = (
    "pause", "filter", "save", "export", "help", "quit", "quit_now", "interrupt", "recent_order", "group",
    "tab_flows", "tab_auth", "tab_timing", "tab_findings", "tab_sources",
)  # fmt: skip

KEYS: tuple[tuple[str, str], ...] = (
    ("space", "pause / resume the display (events keep being ingested)"),
    ("/", "focus the flow filter; enter applies, escape leaves"),
    ("s", "save a capture (JSONL of the flows held) to the current directory"),
    ("e", "export the report (Markdown, JSON or HTML) to the current directory"),
    ("1 2 3 4", "Flows, Auth calls, Timing, Findings tabs (the tab's pane takes the arrow keys)"),
    ("↑ ↓ PgUp PgDn Home End", "move the selection in the flows list (or click a row)"),
    ("escape", "in the flows list: clear the selection and follow the newest flows"),
    ("g", "group the flows by inbound request (its callouts and backend hops under it) / flat list"),
    ("o", "on the Timing tab: recent requests slowest first / newest first"),
    ("ctrl+p", "command palette: every action, Change theme (remembered), Screenshot"),
    ("?", "this help"),
    ("q, ctrl+q, ctrl+c", "quit (what was saved is printed on the way out)"),
)
# Shown when several streams are attached (`tokentax attach A B ...`).
MULTI_KEYS: tuple[tuple[str, str], ...] = (
    ("5", "Sources tab: each stream's state and figures, and their sum; enter on a row filters the flows by it"),
    (
        "source:NAME",
        "in the filter: only flows from streams whose HOST:PORT is NAME, ends with :NAME (the port) "
        "or contains NAME; several terms mean any of them, e.g. source:7392 ~m POST",
    ),
)
EXPORT_FORMATS: tuple[tuple[str, str], ...] = (("md", "Markdown"), ("json", "JSON"), ("html", "HTML"))


def help_renderable(multi: bool = False) -> Group:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold")
    keys.add_column()
    tabs = next(i for i, (k, _) in enumerate(KEYS) if k.startswith("1 2 3 4")) + 1
    for k, what in KEYS[:tabs] + (MULTI_KEYS if multi else ()) + KEYS[tabs:]:
        keys.add_row(k, what)
    flt = Table.grid(padding=(0, 2))
    flt.add_column(style="bold")
    flt.add_column()
    for op, what in help_rows():
        flt.add_row(op, what)
    return Group(
        Text("Keys", style="bold underline"),
        keys,
        Text(""),
        Text("Filter expressions (role:, kind:, and mitmproxy's own syntax)", style="bold underline"),
        Text("e.g.  kind:introspection     role:callout !~c 200     ~d auth & ~m POST", style="dim"),
        Text("Only terms that can match here are listed: events hold no headers or bodies.", style="dim"),
        flt,
        Text(""),
        Text("Settings", style="bold underline"),
        Text(f'Keys and theme: {config_path()} (TOML; [keys] binding id = "keys", e.g. save = "ctrl+s").', style="dim"),
        Text("Binding ids: " + ", ".join(BINDING_IDS), style="dim"),
    )


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, multi: bool = False) -> None:
        super().__init__()
        self.multi = multi

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_renderable(self.multi), id="help-body")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class ExportScreen(ModalScreen[str | None]):
    """Pick a report format; dismisses with its extension, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Static("Export the report as:", id="export-title")
            yield OptionList(
                *(Option(f"{label} (.{ext})", id=ext) for ext, label in EXPORT_FORMATS), id="export-options"
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
