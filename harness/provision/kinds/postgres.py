"""``kind: postgres``: a PostgreSQL cluster (``database:`` created in it) with durability off —
a throwaway copy of an initdb'd cluster locally, the official image's contract in a container.

A ``template:`` (the system's migrations) runs before anything that depends on the database
starts. Locally it runs once per run, in a cluster of its own, and each scenario's cluster is a
copy of the result; in a container it runs against each scenario's database.
"""

from __future__ import annotations

import json
import shutil
from functools import partial

from harness.commands import last_words, run_command
from harness.errors import ProvisionError
from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import KINDS, ContainerHost, ContainerSpec, KindStart, LocalHost
from harness.provision.servers import HOST, PostgresServer, postgres_answers
from harness.provision.templates import Endpoint, TemplateContext, resolve

__all__ = ["PostgresKind"]

PORT = 5432
#: what makes a scratch cluster fast (nothing here has to survive a crash)
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def url(role: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{role}@{host}:{port}/{database}"


def _template_key(start: KindStart) -> str:
    """Scenarios whose templates resolve the same get one build: the same database, and the
    same command and env once ``${env.*}`` is filled in (this service's address stays a
    placeholder: each build has its own).

    Raises:
        ProvisionError: a ``${env.*}`` it names is not set (as the build itself would).
    """
    template = start.service.template
    assert template is not None
    where = f"services.{start.name}.template"
    address = Endpoint(start.name, 0, f"<{start.name}>")
    placeholder = TemplateContext({start.name: address}, {}, "", 0, 1.0)
    command = [resolve(a, placeholder, where=where) for a in template.command]
    env = {k: resolve(v, placeholder, where=where) for k, v in template.env.items()}
    return json.dumps([start.name, start.service.database, command, env], sort_keys=True)


def _apply_template(start: KindStart, endpoint: Endpoint) -> None:
    """Run the service's template command against the database at ``endpoint``; its output goes
    to ``template.log`` in the service's directory.

    Raises:
        ProvisionError: it did not start, did not end in time, or did not exit 0.
    """
    template = start.service.template
    assert template is not None
    where = f"services.{start.name}.template"
    context = TemplateContext({start.name: endpoint}, {}, str(start.run_dir), start.seed, 1.0)
    outcome = run_command(
        template.command, template.env, context, timeout_s=template.timeout_s, where=where
    )
    log = start.directory / "template.log"
    log.write_text(f"$ {outcome.line}\n{outcome.output}\n")
    if outcome.returncode != 0:
        why = outcome.error or f"exited {outcome.returncode}: {last_words(outcome.output)}"
        raise ProvisionError(f"{where}: {outcome.line} {why} (output in {log})")


def _build_template(start: KindStart, server: PostgresServer) -> None:
    database = start.service.database or "postgres"
    if start.service.database:
        server.create_database(database)
    address = url(server.role, HOST, server.port, database)
    _apply_template(start, Endpoint(HOST, server.port, address))


class PostgresKind:
    image_role = "postgres"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        if start.service.template is None:
            data = host.postgres_template()
        else:
            data, built = host.postgres_derived(
                _template_key(start), partial(_build_template, start)
            )
            if not built:
                (start.directory / "template.log").write_text(
                    "the template was made for an earlier scenario of this run; this cluster is "
                    "a copy of its result\n"
                )
        server = PostgresServer(template=data)
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
        if start.service.database and start.service.template is None:
            server.create_database(start.service.database)  # else the template's copy has it
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
            after_ready=partial(_apply_template, start) if start.service.template else None,
        )


KINDS.register("postgres")(PostgresKind())
