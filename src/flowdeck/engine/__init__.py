"""Orchestration: scheduler, worker, step handlers. Knows nothing of HTTP frameworks or SQL."""
