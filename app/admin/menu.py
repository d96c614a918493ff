"""The admin's menu groups."""

STRATEGY_GROUP = "Workspaces & strategy"
LEADS_GROUP = "Leads & conversations"
AUDIT_GROUP = "Audit"
CONSENT_GROUP = "Consent"
CHANNEL_GROUP = "Channel rules"
OPERATORS_GROUP = "Operators"
