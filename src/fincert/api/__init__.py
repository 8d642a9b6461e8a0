"""The HTTP edge (FastAPI): parses requests, calls one service function, maps domain errors
to RFC 9457 problem documents in one place (``problems``)."""
