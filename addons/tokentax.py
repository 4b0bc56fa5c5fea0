"""tokentax for mitmproxy: `mitmdump -s addons/tokentax.py [--set tokentax_inbound=PORT ...]`.

This script only wires up the addon; the logic lives in the `inspector` package.
"""

import os
import sys

# Running from a checkout without installing: make the package importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inspector.mitm.addon import TokenTax

addons = [TokenTax()]
