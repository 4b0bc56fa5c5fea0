"""Replace every secret in a raw capture by its keyed fingerprint, keeping the capture usable.

Raw mitmproxy flow files and HAR files carry the secrets tokentax itself never stores:
bearer tokens, cookies, client secrets. Redaction swaps each one for
`tokentax-fp-<fingerprint>` (same key for the whole run), so the same token still looks
the same everywhere in the file: `tokentax report` on the redacted file gives the same
callout, redundant and identical counts, and mitmproxy still opens it.

Two steps per place a secret can be: a structural one that knows where secrets live
(Authorization/Proxy-Authorization/Cookie/Set-Cookie headers, `access_token`,
`refresh_token`, `id_token`, `client_secret` and friends in JSON bodies, form bodies and
query strings), and a sweep that replaces any other occurrence of a secret the first
step found anywhere in the file (a token echoed in a body, a log line, a URL). The
fingerprint text is token-shaped (`[A-Za-z0-9-]`) so a redacted bearer still reads as
a plausible token, not as garbage.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from inspector.record.fingerprint import Fingerprinter

FP_PREFIX = "tokentax-fp-"

# Body, form and query fields whose values are credentials.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "device_code",
        "code_verifier",
    }
)
AUTH_HEADERS = ("authorization", "proxy-authorization")
MIN_SWEEP_LEN = 8  # shorter secrets are replaced where they are expected, never swept (false hits)

_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~+/])+=*")
_RUN_B = re.compile(rb"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~+/])+=*")
_TOKENISH = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


class Redactor:
    """Holds the key, the secrets seen so far and the counts of what was replaced."""

    def __init__(self, fpr: Fingerprinter) -> None:
        self.fpr = fpr
        self.counts: Counter[str] = Counter()
        self._masks: dict[str, str] = {}  # secret -> replacement
        self._runs: dict[str, str] = {}  # secret as a token-ish run (no '=' padding, or %-encoded) -> replacement
        self._literals: list[tuple[str, str]] = []  # non-token-ish secrets, longest first
        self._runs_b: dict[bytes, bytes] | None = None
        self._literals_b: list[tuple[bytes, bytes]] | None = None

    # -- the replacement ------------------------------------------------------------------

    def mask(self, secret: str) -> str:
        if secret.startswith(FP_PREFIX):
            return secret  # already redacted (a file redacted twice)
        rep = self._masks.get(secret)
        if rep is None:
            rep = self._masks[secret] = FP_PREFIX + self.fpr.fp(secret)
            self._learn(secret, rep)
        return rep

    def _learn(self, secret: str, rep: str) -> None:
        if len(secret) < MIN_SWEEP_LEN:
            return
        self._runs_b = self._literals_b = None
        variants = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        for v in variants:
            if _TOKENISH.match(v) or _RUN.fullmatch(v):
                self._runs.setdefault(v.rstrip("="), rep)
            else:
                self._literals.append((v, rep))
        self._literals.sort(key=lambda pair: -len(pair[0]))

    @property
    def secrets_seen(self) -> int:
        return len(self._masks)

    def reset_counts(self) -> None:
        self.counts.clear()

    # -- structural replacement -----------------------------------------------------------

    def auth_value(self, value: str, name: str) -> str:
        """`Bearer abc` -> `Bearer tokentax-fp-...`: the scheme word stays, the credential goes."""
        stripped = value.strip()
        scheme, sep, cred = stripped.partition(" ")
        self.counts[f"{name} header"] += 1
        if sep and cred.strip() and scheme.isalpha():
            return f"{scheme} {self.mask(cred.strip())}"
        return self.mask(stripped) if stripped else value

    def cookie_header(self, value: str) -> str:
        """`a=1; b=2` -> each cookie keeps its name, loses its value."""
        parts = []
        for part in value.split(";"):
            name, sep, val = part.partition("=")
            if sep:
                parts.append(f"{name}={self.mask(val.strip())}" if val.strip() else part)
            elif part.strip():
                parts.append(" " + self.mask(part.strip()) if part.startswith(" ") else self.mask(part.strip()))
            else:
                parts.append(part)
        self.counts["cookie header"] += 1
        return ";".join(parts)

    def set_cookie(self, value: str) -> str:
        """`sid=abc; Path=/; HttpOnly` -> the value goes, name and attributes stay."""
        first, sep, attrs = value.partition(";")
        name, eq, val = first.partition("=")
        if eq:
            first = f"{name}={self.mask(val.strip())}" if val.strip() else first
        elif first.strip():
            first = self.mask(first.strip())
        self.counts["set-cookie header"] += 1
        return first + sep + attrs

    def header(self, name: str, value: str) -> str:
        low = name.lower()
        if low in AUTH_HEADERS:
            return self.auth_value(value, low)
        if low == "cookie":
            return self.cookie_header(value)
        if low == "set-cookie":
            return self.set_cookie(value)
        return value

    def query(self, text: str, where: str) -> str:
        """A query string or form body: secret fields get their value replaced, the rest is kept as is."""
        if "=" not in text:
            return text
        out = []
        changed = False
        for part in text.split("&"):
            name, sep, val = part.partition("=")
            try:
                key = unquote_plus(name).strip().lower()
            except (ValueError, UnicodeDecodeError):
                key = ""
            if sep and val and key in SECRET_FIELDS:
                out.append(f"{name}={quote_plus(self.mask(unquote_plus(val)))}")
                self.counts[f"{key} in {where}"] += 1
                changed = True
            else:
                out.append(part)
        return "&".join(out) if changed else text

    def json_value(self, obj: Any, where: str) -> tuple[Any, list[tuple[str, str]]]:
        """The object with every secret field's string value replaced; and the (secret, mask) pairs."""
        found: list[tuple[str, str]] = []

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    if isinstance(v, str) and v and str(k).lower() in SECRET_FIELDS and not v.startswith(FP_PREFIX):
                        rep = self.mask(v)
                        found.append((v, rep))
                        self.counts[f"{str(k).lower()} in {where}"] += 1
                        out[k] = rep
                    else:
                        out[k] = walk(v)
                return out
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return walk(obj), found

    def json_text(self, text: str, where: str) -> str | None:
        """Redacted JSON text, keeping the original layout where it can; None if not JSON."""
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None
        new, found = self.json_value(obj, where)
        if not found:
            return text
        out = text
        for secret, rep in found:
            out = out.replace(json.dumps(secret, ensure_ascii=False)[1:-1], rep)
        try:
            if json.loads(out) == new:
                return out
        except (ValueError, RecursionError):
            pass
        return json.dumps(new, ensure_ascii=False)

    def body(self, content: bytes, content_type: str, where: str) -> bytes:
        """A request/response body: JSON or form fields redacted, then swept."""
        if not content:
            return content
        head = content.lstrip()[:1]
        ct = content_type.lower()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return self.sweep_bytes(content)
        new: str | None = None
        if "json" in ct or head in (b"{", b"["):
            new = self.json_text(text, f"{where} JSON")
        if new is None and ("x-www-form-urlencoded" in ct or (not ct and "=" in text and "\n" not in text.strip())):
            new = self.query(text, f"{where} form")
        out = (new if new is not None else text).encode("utf-8")
        return self.sweep_bytes(out)

    # -- the sweep ------------------------------------------------------------------------

    def sweep(self, text: str) -> str:
        """Replace any known secret (of MIN_SWEEP_LEN or more) wherever it appears in text."""
        if not self._runs and not self._literals:
            return text
        for lit, rep in self._literals:
            if lit in text:
                self.counts["other occurrences"] += text.count(lit)
                text = text.replace(lit, rep)
        if self._runs:
            text = _RUN.sub(self._run_sub, text)
        return text

    def _run_sub(self, m: re.Match[str]) -> str:
        run = m.group(0)
        core = run.rstrip("=")
        rep = self._runs.get(core)
        if rep is None:
            return run
        self.counts["other occurrences"] += 1
        return rep + run[len(core) :]

    def sweep_bytes(self, data: bytes) -> bytes:
        if not self._runs and not self._literals:
            return data
        if self._runs_b is None or self._literals_b is None:
            self._runs_b = {k.encode("utf-8"): v.encode() for k, v in self._runs.items()}
            self._literals_b = [(k.encode("utf-8"), v.encode()) for k, v in self._literals]
        for lit, rep in self._literals_b:
            if lit in data:
                self.counts["other occurrences"] += data.count(lit)
                data = data.replace(lit, rep)
        runs = self._runs_b

        def sub(m: re.Match[bytes]) -> bytes:
            run = m.group(0)
            core = run.rstrip(b"=")
            rep = runs.get(core)
            if rep is None:
                return run
            self.counts["other occurrences"] += 1
            return rep + run[len(core) :]

        return _RUN_B.sub(sub, data) if runs else data


# -- mitmproxy flows ----------------------------------------------------------------------


def _message(msg: Any, r: Redactor, where: str) -> None:
    """Headers, trailers and body of one request or response, in place."""
    for headers in (msg.headers, getattr(msg, "trailers", None)):
        if headers is None:
            continue
        fields = []
        changed = False
        for name, value in headers.fields:
            n = name.decode("latin-1")
            v = value.decode("utf-8", "surrogateescape")
            nv = r.sweep(r.header(n, v))
            if nv != v:
                changed = True
            fields.append((name, nv.encode("utf-8", "surrogateescape")))
        if changed:
            headers.fields = tuple(fields)
    if msg.raw_content:
        ctype = msg.headers.get("content-type", "")
        try:
            content = msg.get_content(strict=True)
        except ValueError:
            r.counts["bodies left as they are (undecodable content-encoding)"] += 1
            msg.raw_content = r.sweep_bytes(msg.raw_content)
            return
        new = r.body(content or b"", ctype, where)
        if new != content:
            msg.content = new


def redact_flow(flow: Any, r: Redactor) -> None:
    """One mitmproxy flow (HTTP, WebSocket, TCP, UDP), in place."""
    from mitmproxy.http import HTTPFlow

    if isinstance(flow, HTTPFlow):
        req = flow.request
        path, sep, qs = req.path.partition("?")
        if sep:
            req.path = path + "?" + r.sweep(r.query(qs, "query"))
        _message(req, r, "request")
        if flow.response is not None:
            _message(flow.response, r, "response")
        if flow.websocket is not None:
            for m in flow.websocket.messages:
                m.content = r.body(m.content, "", "websocket")
    else:
        for m in getattr(flow, "messages", None) or ():
            if isinstance(getattr(m, "content", None), bytes):
                m.content = r.sweep_bytes(m.content)
    if getattr(flow, "comment", ""):
        flow.comment = r.sweep(flow.comment)


# -- HAR documents ------------------------------------------------------------------------


def _har_pairs(items: Any, r: Redactor, kind: str) -> None:
    """HAR name/value lists: headers, cookies, queryString, postData.params."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"]:
            continue
        name = str(item.get("name", ""))
        if kind == "headers":
            item["value"] = r.header(name, item["value"])
        elif kind == "cookies":
            item["value"] = r.mask(item["value"])
            r.counts["cookie value (HAR cookies list)"] += 1
        elif name.lower() in SECRET_FIELDS:
            item["value"] = r.mask(item["value"])
            r.counts[f"{name.lower()} in {kind}"] += 1


def _har_url(url: str, r: Redactor) -> str:
    base, sep, qs = url.partition("?")
    if not sep:
        return url
    frag = ""
    if "#" in qs:
        qs, _, frag = qs.partition("#")
        frag = "#" + frag
    return base + "?" + r.query(qs, "query") + frag


def redact_har_entry(entry: dict[str, Any], r: Redactor) -> None:
    """One HAR entry, in place (the final sweep over the whole document comes after)."""
    import base64
    import binascii

    req = entry.get("request")
    if isinstance(req, dict):
        if isinstance(req.get("url"), str):
            req["url"] = _har_url(req["url"], r)
        _har_pairs(req.get("headers"), r, "headers")
        _har_pairs(req.get("cookies"), r, "cookies")
        _har_pairs(req.get("queryString"), r, "queryString")
        post = req.get("postData")
        if isinstance(post, dict):
            _har_pairs(post.get("params"), r, "postData params")
            if isinstance(post.get("text"), str):
                post["text"] = r.body(
                    post["text"].encode("utf-8", "surrogateescape"), str(post.get("mimeType", "")), "request"
                ).decode("utf-8", "surrogateescape")
    resp = entry.get("response")
    if isinstance(resp, dict):
        _har_pairs(resp.get("headers"), r, "headers")
        _har_pairs(resp.get("cookies"), r, "cookies")
        content = resp.get("content")
        if isinstance(content, dict) and isinstance(content.get("text"), str) and content["text"]:
            mime = str(content.get("mimeType", ""))
            if content.get("encoding") == "base64":
                try:
                    raw = base64.b64decode(content["text"], validate=False)
                except (binascii.Error, ValueError):
                    raw = None
                if raw is not None:
                    content["text"] = base64.b64encode(r.body(raw, mime, "response")).decode("ascii")
            else:
                content["text"] = r.body(content["text"].encode("utf-8", "surrogateescape"), mime, "response").decode(
                    "utf-8", "surrogateescape"
                )


def sweep_json(doc: Any, r: Redactor) -> Any:
    """Every string in a JSON document swept (keys too), after the structural pass."""
    if isinstance(doc, dict):
        return {r.sweep(k) if isinstance(k, str) else k: sweep_json(v, r) for k, v in doc.items()}
    if isinstance(doc, list):
        return [sweep_json(v, r) for v in doc]
    if isinstance(doc, str):
        return r.sweep(doc)
    return doc
