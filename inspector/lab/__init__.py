"""The lab: a real OAuth2/OIDC auth server, forward-auth service, token relay, backend and
gateway on 127.0.0.1 to point the inspector at; the gateway does its auth work in every
shape tokentax measures (inspector.lab.modes), naive and cached.

Heavy imports (uvicorn, starlette, httpx, cryptography) live in the submodules, so
importing this package stays cheap for `tokentax --help`.
"""
