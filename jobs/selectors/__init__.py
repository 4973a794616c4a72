"""Read-side queries: every figure the API, the admin dashboard, /metrics and jobsctl show.

Each figure is computed here once, so `GET /api/v1/stats`, the dashboard, the Prometheus page
and `manage.py jobsctl stats` cannot disagree about what "due", "dead", "live" or "rescued"
means. Every query reads through an index (the partial indexes of queued and running rows,
(state, finished_at) for recent outcomes, created_at for retries), so each costs the same
with a hundred executions or with a year of history.

- counts: jobs by state, and executions queued, due, running and dead;
- queues: each queue's due, delayed and running executions, and its lag;
- workers: live workers with what they hold, and the fleet's slots;
- activity: outcomes, retries, rescues and durations per handler over a window;
- stats: the API's (and the dashboard's) counts and recent windows, for one user;
- series: outcomes per time bucket, and the latest dead letters, for the dashboard;
- snapshot: everything /metrics and `jobsctl stats` show, read at one moment.
"""
