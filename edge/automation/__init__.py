"""Automation: rules evaluation, emergency linkage and the reconciler (the only writer)."""
