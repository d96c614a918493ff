"""The outreach policy: what it decides, and every source it decides from.

The decision (pure, replayable):
    rules.py            the inputs, the rule table and decide()
    input_codec.py      PolicyInputs from a loaded row and to/from trace JSON, by field
    trace.py            the rule trace, for replay
    local_time.py, recipient.py, schedule.py, public_holidays.py, jurisdictions.py
                        time in the recipient's zone, the schedule, holidays, local law

Its I/O:
    engine.py           load the inputs, decide, record: permits, simulate, replay, dispatch
    decisions.py        reading the decision record

Its sources, each written only here:
    strategies.py       a workspace's strategy versions: drafts, activation, rollback
    attestations.py     a workspace's outreach attestations
    workspace_policy.py a workspace's send policy (window, days, blocked dates, holidays)
"""
