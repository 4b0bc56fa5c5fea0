"""tokentax: find and measure repeated token callouts between a gateway, its auth server and backends."""

__version__ = "0.1.0"
