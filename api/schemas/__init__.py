"""Typed request and answer bodies, one module per domain; ``common`` holds the shared field types."""
