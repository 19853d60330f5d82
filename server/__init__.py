"""Tandem's server: REST API, WebSocket hub, domain services and storage.

Never imports Qt or ``app``; it runs and is tested headless.
"""

__version__ = "0.1.0"
