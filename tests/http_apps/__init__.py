"""Real Starlette apps the HTTP probe is tested against (run by uvicorn on 127.0.0.1)."""
