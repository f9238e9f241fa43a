"""The Security Audit (A-AUDIT, P-AUDIT): who did what, from where."""
