"""The entry point stays light: `tokentax --help` must not import the TUI or the proxy.

That is why every subcommand defers its heavy imports into the function it runs; one
stray top-level import would make every invocation pay for Textual and mitmproxy.
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_imports_neither_textual_nor_mitmproxy() -> None:
    code = (
        "import sys, json, contextlib, io\n"
        "from inspector.commands.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'mitmproxy'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_every_subcommand_help_is_light_too() -> None:
    from inspector.commands.main import COMMANDS

    for name in COMMANDS:
        code = (
            "import sys, json, contextlib, io\n"
            "from inspector.commands.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    main([{name!r}, '--help'])\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'mitmproxy'))))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert json.loads(out.strip().splitlines()[-1]) == [], name
