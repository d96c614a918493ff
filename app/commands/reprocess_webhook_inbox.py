"""``piccolo masterplan reprocess_webhook_inbox``."""

from app.progress import ProgressBar


async def reprocess_webhook_inbox() -> None:
    """
    Read every unprocessed item of the webhook inbox again with this version of the
    code (after an upgrade, or after routing a WhatsApp number to a workspace): what
    it can act on now is stored and marked processed; the rest stays, its reason
    brought up to date. Safe to repeat.
    """
    # Imported here: the webhook's modules load FastAPI, which every other command
    # (and every migration run) would pay through piccolo_conf's app registry.
    from app.whatsapp.inbox import reprocess

    bar: ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or ProgressBar("Inbox items", total)
        bar.advance(done)

    report = await reprocess(progress=progress)
    if bar is not None:
        bar.close()
    for item_id, outcome in report.processed:
        print(f"item #{item_id}: {outcome}")
    for item_id, reason in report.still_kept:
        print(f"item #{item_id}: still kept: {reason}")
    print(report.summary())
