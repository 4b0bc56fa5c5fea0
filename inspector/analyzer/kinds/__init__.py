"""One module per callout kind other than the token fetch: its cache key and redundancy rule.

Each rule (base.KindRule) turns a callout event into a Verdict (redundant, identical,
failed); the book (book.KindBook) keeps the per-kind counters that become
`callouts.by_kind` in the report. The token fetch (and the exchange, judged as a token
fetch with a longer key) stays in analyzer/core.py and analyzer/tokens.py.
"""
