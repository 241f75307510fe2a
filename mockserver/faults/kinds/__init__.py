"""The fault kinds, one module per hook family; importing this package registers them all."""

from mockserver.faults.kinds import connection, keepalive, messages, order_book, rpc

__all__ = ["connection", "keepalive", "messages", "order_book", "rpc"]
