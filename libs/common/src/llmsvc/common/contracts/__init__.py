"""Typed payloads for every NATS subject (DESIGN §3). Unknown fields are ignored."""
