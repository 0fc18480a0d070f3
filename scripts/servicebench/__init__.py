"""The parts of scripts/bench_service.py: model, processes, probes, client, phases, report."""
