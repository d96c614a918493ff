"""``piccolo masterplan normalize_lead_ids``."""

from app.lead_ids import normalize_lead_ids as find_and_rewrite
from app.progress import ProgressBar


async def normalize_lead_ids(apply: bool = False) -> None:
    """
    List leads whose id is a phone number in another spelling than E.164 and, with
    --apply, rewrite each to E.164 unless another lead of its workspace already has
    that form (reported for an operator instead). Safe to repeat: a second run
    finds nothing more to do.

    :param apply:
        Rewrite the ids; without it nothing changes.
    """
    bar: ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or ProgressBar("Lead ids", total)
        bar.advance(done)

    report = await find_and_rewrite(apply=bool(apply), progress=progress)
    if bar is not None:
        bar.close()
    verb = "rewrote" if apply else "would rewrite"
    for lead_id, before, after in report.rewritten:
        print(f"lead #{lead_id}: {verb} {before!r} as {after!r}")
    for lead_id, before, twin_id, after in report.twins:
        twin = f"lead #{twin_id}" if twin_id else "another lead"
        print(f"lead #{lead_id}: {before!r} is {after!r}, which {twin} of its workspace holds")
    print(report.summary(bool(apply)))
