"""The outreach policy engine: the rules (pure), their I/O, and the send policy."""
