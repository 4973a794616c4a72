"""Handlers' logs and progress, appended to their executions (queries.sql: append_run_logs)."""

from . import queries


def run_logs_append(
    conn, *, worker_id: int, entries: list[tuple[int, str, tuple[int, str] | None]]
) -> None:
    """Append, for each (execution id, text, progress or None), the text to the execution's
    log and set its progress, in one statement for all."""
    if not entries:
        return
    with conn.cursor() as cursor:
        queries.run(
            cursor,
            "append_run_logs",
            worker=worker_id,
            ids=[execution_id for execution_id, _, _ in entries],
            texts=[text for _, text, _ in entries],
            progress=[None if progress is None else progress[0] for _, _, progress in entries],
            messages=[None if progress is None else progress[1] for _, _, progress in entries],
        )
