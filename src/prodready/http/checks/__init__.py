"""Checks over the HTTP probe's snapshot, registered with `surface="http"`."""
