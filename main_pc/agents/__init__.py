"""MainPC's 54 reference agents: thin subclasses of the kinds in ``common.kinds``.

One module per group of the original's startup config; ``docs/REFERENCE_MESH.md`` maps every
agent to its kind.  Workload stand-ins: same names, ports, dependencies, traffic and GPU
demand as the original, each doing a small real job.
"""

__all__: list[str] = []
