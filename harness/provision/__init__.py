"""Provisioning: start the services of a system under test, check they are ready, stop them."""

from harness.provision.binaries import find_binary
from harness.provision.process import ManagedProcess, free_port, port_is_open

__all__ = ["ManagedProcess", "find_binary", "free_port", "port_is_open"]
