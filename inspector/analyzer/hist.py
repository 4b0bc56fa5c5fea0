"""Kept for imports from before quantiles.py: the log-bucket sketch lives there now."""

from __future__ import annotations

from inspector.analyzer.quantiles import LogHistogram, Quantiles

__all__ = ["LogHistogram", "Quantiles"]
