"""Encrypted backups that never bring erased data back (issue 19).

See ``confide.backup.actions`` for the commands and ``docs/operations.md`` for the layout.
"""
