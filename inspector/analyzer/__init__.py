"""Events -> figures and findings. Pure, incremental, bounded memory."""

from inspector.analyzer.core import Analyzer, AnalyzerConfig

__all__ = ["Analyzer", "AnalyzerConfig"]
