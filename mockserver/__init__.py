"""paradex-mock: a local mock of the Paradex WebSocket API."""

__version__ = "0.1.0"
