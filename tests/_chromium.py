"""How the browser tests and the browser benchmark launch Chromium: Debian's build, with
the flags of a quiet machine (headless, no sandbox in a container, no GPU, no QUIC, no
background fetches or updates that would add traffic or time)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
