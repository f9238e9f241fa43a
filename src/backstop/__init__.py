"""Backstop: cloud-to-cloud backup and recovery for SaaS data."""
