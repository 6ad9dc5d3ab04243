"""How one service connects to NATS: its NKey seed, its own inbox prefix (the only
replies it may read), and TLS when configured (see `broker_permissions`)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NatsIdentity"]


@dataclass(frozen=True)
class NatsIdentity:
    seed: str | None = None
    inbox_prefix: str = "_INBOX"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls_ca is None and self.tls_cert is None:
            return None
        context = ssl.create_default_context(
            cafile=str(self.tls_ca) if self.tls_ca is not None else None
        )
        if self.tls_cert is not None and self.tls_key is not None:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of `nats.connect` (and FastStream's `NatsBroker`, which
        passes them on; TLS goes there as `security`)."""
        options: dict[str, Any] = {"inbox_prefix": self.inbox_prefix}
        if self.seed:
            options["nkeys_seed_str"] = self.seed
        tls = self.tls_context()
        if tls is not None:
            options["tls"] = tls
        return options

    def broker_options(self) -> dict[str, Any]:
        """The same for FastStream's `NatsBroker` (its `security=` carries seed and TLS)."""
        from faststream.nats.security import NatsNKey
        from faststream.security import BaseSecurity

        tls = self.tls_context()
        security: BaseSecurity | None = None
        if self.seed:
            security = NatsNKey.from_seed(self.seed, ssl_context=tls)
        elif tls is not None:
            security = BaseSecurity(ssl_context=tls)
        options: dict[str, Any] = {"inbox_prefix": self.inbox_prefix}
        if security is not None:
            options["security"] = security
        return options
