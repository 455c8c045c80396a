"""Envelope encryption: master key -> workspace key-encryption keys -> per-subject data keys."""
