"""Typed payloads for every NATS subject (docs/design.md §3). Unknown fields are ignored."""
