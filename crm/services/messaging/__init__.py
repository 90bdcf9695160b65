"""Texting: templates, quiet hours, the send gate, sending, the sequence dispatcher, inbound."""
