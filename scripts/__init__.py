"""Development tools run from the repository root (`python -m scripts.<tool>`); never
imported by a service."""
