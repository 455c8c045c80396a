"""Accountability (GDPR Art. 5(2), 28, 30, 33, 34, 44-46): the breach register with its
deadlines and notifications, the record of processing and the DPA annex generated from live
configuration, the controller's own details, and the subprocessor list with transfer
safeguards. Support-access grants live in ``confide.access`` (another part of issue 18).

Modules: ``models`` (tables), ``subprocessors`` (the list, the controller profile and the
transfer checks), ``breaches`` (register, deadlines, notifications), ``exposure`` (whose data an
actor read, from the audit ledger), ``processing_record`` (Art. 30 and the DPA annex as data)
and ``render`` (Markdown, HTML and PDF).
"""
