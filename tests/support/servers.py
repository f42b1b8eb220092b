"""The servers tests use are the harness's own recipes."""

from harness.provision.servers import HOST, PostgresServer, RedisServer, ToxiproxyServer

__all__ = ["HOST", "PostgresServer", "RedisServer", "ToxiproxyServer"]
