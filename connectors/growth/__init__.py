"""The photo network the growth domain acts on: one interface (``base.Network``), an HTTP backend
(``http``: `login` and `network_client`), and the pure readers of its answers (``answers``)."""

from connectors.growth.base import LoggedIn, Network, NetworkError
from connectors.growth.http import HttpNetwork, login, network_client

__all__ = ["HttpNetwork", "LoggedIn", "Network", "NetworkError", "login", "network_client"]
