"""Developer tools of peoplesync: what the tests and `make demo` need, never shipped in the Lambda layer.

- `standins.genesys`, `standins.workday`: local HTTP stand-ins of the Genesys Cloud API and a Workday RaaS report
  (`python -m peoplesync_dev.standins.genesys --port 8900 ...`);
- `memory`: the in-process connector of the tests (`connector: memory`);
- `ldap_memory`: the real LDAP connector over ldap3's in-memory server, the demo's directory
  (`connector: ldap_memory`);
- `demo`: `make demo` (`python -m peoplesync_dev.demo`).

The two connectors are plugins: pyproject.toml declares them in the `peoplesync.connectors` entry-point group,
where `peoplesync.connectors.module(name)` finds a name the production registry does not list.
"""
