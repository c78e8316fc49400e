"""The label a verdict on a generated question set carries in `ragq compare` and the report: provisional until a
check of the set, or of its generator on the same documents, passed against an expert set."""

from ragq.producer.results.measures import MEASURES

PROVISIONAL = "provisional: not checked against an expert set"


def label(set_name: str, standing: dict | None) -> str:
    """standing: shared/store/checks.py `standing` for this generated set."""
    if standing is None:
        return (f"{PROVISIONAL} (question set '{set_name}' is generated; "
                f"`ragq questions check {set_name} --against EXPERT_SET`)")  # fmt: skip
    whose = "this set" if standing["same_set"] else "a set of the same generator on the same documents"
    return (f"generated question set '{set_name}', checked against '{standing['expert']}': Kendall tau "
            f"{standing['tau']:.2f} by {MEASURES[standing['on']].label} ({whose})")  # fmt: skip


def labels(standings: dict[str, dict | None]) -> list[str]:
    return [label(name, standing) for name, standing in sorted(standings.items())]
