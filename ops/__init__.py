"""Running the scheduler in production: metrics, health probes, request ids, JSON logs."""
