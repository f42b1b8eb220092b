"""``kind: postgres``: a PostgreSQL cluster (``database:`` created in it) with durability off —
a throwaway copy of an initdb'd cluster locally, the official image's contract in a container."""

from __future__ import annotations

import shutil

from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import KINDS, ContainerHost, ContainerSpec, KindStart, LocalHost
from harness.provision.servers import HOST, PostgresServer, postgres_answers
from harness.provision.templates import Endpoint

__all__ = ["PostgresKind"]

PORT = 5432
#: what makes a scratch cluster fast (nothing here has to survive a crash)
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def url(role: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{role}@{host}:{port}/{database}"


class PostgresKind:
    image_role = "postgres"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        server = PostgresServer(template=host.postgres_template())
        log_copy = start.directory / "postgres.log"
        kept: list[RunningService] = []

        def stop() -> None:
            # The cluster's directory goes with it; its log is kept in the run directory.
            if server.process is not None:
                try:
                    shutil.copyfile(server.process.log_path, log_copy)
                    for running in kept:
                        running.log_path = log_copy
                except OSError:
                    pass
            server.stop()

        host.on_stop(start.name, stop)
        server.start()
        database = start.service.database or "postgres"
        if start.service.database:
            server.create_database(start.service.database)
        assert server.process is not None
        endpoint = Endpoint(HOST, server.port, url(server.role, HOST, server.port, database))
        running = RunningService(
            start.name, "postgres", endpoint, server.process.log_path, server.process
        )
        kept.append(running)
        return running

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        db = start.service.database or "postgres"
        return ContainerSpec(
            ["postgres", *(arg for setting in SETTINGS for arg in ("-c", setting))],
            {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": db},
            [PORT],
            Endpoint(start.name, PORT, url("postgres", start.name, PORT, db)),
            lambda p: Endpoint(HOST, p[PORT], url("postgres", HOST, p[PORT], db)),
            lambda e, c: postgres_answers(e.host, e.port, "postgres", db),
            f"a connection to database {db} succeeds",
            stop_signal="SIGINT",
        )


KINDS.register("postgres")(PostgresKind())
