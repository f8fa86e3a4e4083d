"""Handshake, token and HTTP probes against a real Django Channels target and misbehaving
servers."""
