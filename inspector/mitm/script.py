"""The addon as a script inside the package, for processes tokentax spawns itself.

Users in a checkout pass `addons/tokentax.py`; an installed tokentax has no `addons/`
folder, so `tokentax demo/tui/record` start mitmdump with this file instead.
"""

from inspector.mitm.addon import TokenTax

addons = [TokenTax()]
