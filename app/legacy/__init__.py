"""The prototype's tables (``zairag_*``) under Piccolo, and their backfill."""
