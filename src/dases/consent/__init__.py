"""Learners' consent: records, receipts, checks for connectors, privacy notices and notifications."""
