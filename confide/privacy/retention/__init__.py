"""Retention (brief §3): per-channel policy, archive, end of life with anonymised statistics,
bulk delete and the daily ``retention`` job. See ``policy``, ``run``, ``report``, ``alerts``,
``bulk`` (both take their conversations through ``batches`` and destroy them through
``end_of_life``) and ``job``; the statistics rows are written by ``confide.chat.statistics``."""
