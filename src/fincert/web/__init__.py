"""The holder's web pages and the institution console: server-rendered Jinja2, Korean by default.

Pages call the same services as the API (``runtime.registrar``, ``runtime.lifecycle``); they
never call the service's own HTTP API from the server. The browser's scripts call the API for
the parts only a browser can do (WebAuthn ceremonies, keys generated with WebCrypto).
"""
