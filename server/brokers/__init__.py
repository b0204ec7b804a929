"""Brokers that carry notifications to every server instance."""
