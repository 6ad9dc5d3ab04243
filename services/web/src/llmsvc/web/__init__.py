"""Web UI: a backend-for-frontend serving the chat pages and relaying to the gateway."""
