"""The benchmark suite behind `ucfdvs bench`: one run, every backend, one report.

Modules: constants (published energies and Loihi 2 limits), ops (operation counting), energy
(Loihi and 45 nm estimates, NVML measurement), resources (Loihi 2 mapping), backends (running
and timing each backend), report (results.json, report.md, plots), bench (the orchestration),
cli (the subcommand).
"""
