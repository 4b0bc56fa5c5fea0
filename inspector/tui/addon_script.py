"""The script `tokentax tui` passes to `mitmdump -s`: the tokentax addon, nothing else.

It lives inside the package (not only in the checkout's addons/) so an installed
tokentax can start its own mitmdump.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from inspector.addon import TokenTax  # noqa: E402

addons = [TokenTax()]
