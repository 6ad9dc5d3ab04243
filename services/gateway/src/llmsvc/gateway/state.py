from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from llmsvc.common.clients import AgentClient, AuthClient, SessionsClient
from llmsvc.common.models import ModelCatalog
from llmsvc.common.run_cancels import RunCancels
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.token_denylist import TokenDenylist
from llmsvc.common.user_quotas import UserQuotas
from llmsvc.gateway.api_keys import ApiKeyResolver
from llmsvc.gateway.client_address import Network
from llmsvc.gateway.session_cache import SessionCache
from llmsvc.gateway.settings import GatewaySettings
from llmsvc.gateway.token_keys import TokenKeys


@dataclass
class GatewayState:
    settings: GatewaySettings
    nc: NATS
    js: JetStreamContext
    locks: RunLocks
    cancels: RunCancels
    denylist: TokenDenylist
    #: The public keys access tokens are checked with, from auth.
    token_keys: TokenKeys
    api_keys: ApiKeyResolver
    quotas: UserQuotas
    #: The services, over NATS.
    auth: AuthClient
    sessions: SessionsClient
    agent: AgentClient
    session_cache: SessionCache
    #: The models on offer (`MODELS`), the first the default.
    models: ModelCatalog
    #: `TRUSTED_PROXIES`, parsed.
    trusted_proxies: list[Network]
