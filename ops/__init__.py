"""Operations: the ``jimbot`` CLI, configuration, the embedded nats-server, supervision,
simulators and benchmarks. The top of the import graph: it may use every other package."""
