"""Query plans as the tests read them: a partition's index under its parent index's name.

On a partitioned table (jobs.partitions) a plan names each partition's own index
(`jobs_execution_y2026m12_queue_priority_run_after_id_idx`); the model names the index the
partitions' ones belong to (`execution_claim_idx`), which is what a test means.
"""

import re


def by_parent_index(plan: str, cursor) -> str:
    """`plan` with each partition's index renamed after the partitioned index it is part of."""
    cursor.execute(
        "SELECT child.relname, parent.relname FROM pg_inherits "
        "JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
        "JOIN pg_class AS parent ON parent.oid = pg_inherits.inhparent "
        "WHERE child.relkind = 'i'"
    )
    parents = dict(cursor.fetchall())
    return re.sub(r"\b\w+\b", lambda word: parents.get(word[0], word[0]), plan)
