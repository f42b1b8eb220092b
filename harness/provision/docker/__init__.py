"""The container backend (``--env docker``), by concept:

- ``daemon.py`` — the client of the daemon, the labels, the sweep of what dead runs left;
- ``control.py`` — faults on a container (``ContainerControl``), readiness, logs;
- ``provisioner.py`` — ``DockerProvisioner``: a network per scenario, a container per service
  from its kind's recipe, published ports on 127.0.0.1, teardown.

Importing this package does not import the Docker SDK; ``connect()`` says which ``pip install``
is missing.
"""

from harness.provision.docker.control import ContainerControl
from harness.provision.docker.daemon import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_SCENARIO,
    LABEL_SERVICE,
    connect,
    sweep,
)
from harness.provision.docker.provisioner import DockerProvisioner

__all__ = [
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "LABEL_SCENARIO",
    "LABEL_SERVICE",
    "ContainerControl",
    "DockerProvisioner",
    "connect",
    "sweep",
]
