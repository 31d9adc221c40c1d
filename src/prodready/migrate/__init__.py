"""Migrations: generate from findings, lint, apply with a journal, roll back."""
