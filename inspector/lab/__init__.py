"""The lab: a real OAuth2 auth server, backend and gateway on 127.0.0.1 to point the inspector at.

Heavy imports (uvicorn, starlette, httpx) live in the submodules, so importing this
package stays cheap for `tokentax --help`.
"""
