"""The REST API's errors: Paradex's ``responses.ApiError`` with an HTTP status.

::

    MockError                      (mockserver.errors)
    └── RestError                  400 VALIDATION_ERROR
        ├── MarketNotFound         404 / 400 MARKET_NOT_FOUND (the status the operation declares)
        ├── InvalidStarknetAddress 400 INVALID_STARKNET_ADDRESS
        ├── InvalidStarknetSignature 400 INVALID_STARKNET_SIGNATURE
        ├── InvalidTimestamp       400 INVALID_TIMESTAMP
        └── SignatureExpired       401 INVALID_TIMESTAMP

On the wire every one is ``{"error": <ErrorCode>, "message": ...}``
(openapi.json ``components.schemas.responses.ApiError``). ``data`` is left
out: the spec types it as an object, while ccxt's comments show Paradex sending
``null``; neither client needs it. Which code and status each case gets is
UNCONFIRMED where the spec only lists the codes (docs/behaviour.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

from mockserver.errors import MockError


class RestError(MockError):
    """A REST request refused: ``status``, Paradex ``error`` code and a message."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "VALIDATION_ERROR"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = self.status if status is None else status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message}


class MarketNotFound(RestError):
    error = "MARKET_NOT_FOUND"

    def __init__(self, market: str, *, status: int = 400) -> None:
        super().__init__(f"market {market} not found", status=status)


class InvalidStarknetAddress(RestError):
    error = "INVALID_STARKNET_ADDRESS"


class InvalidStarknetSignature(RestError):
    error = "INVALID_STARKNET_SIGNATURE"


class InvalidTimestamp(RestError):
    error = "INVALID_TIMESTAMP"


class SignatureExpired(RestError):
    status = 401
    error = "INVALID_TIMESTAMP"
