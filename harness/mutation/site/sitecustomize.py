"""Loaded by every Python process of a mutation run, whose ``PYTHONPATH`` starts with this
directory: in a ``stats`` pass, service processes record the mutated functions they call."""

from harness.mutation import install_recorder

install_recorder()
