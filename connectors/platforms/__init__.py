"""The five content platforms' search APIs behind one interface, each answer mapped to common fields.

`search` asks one page of one platform's keyword search (a client from `platform_client`: base URL,
API key header, timeouts and connection limit from ``settings.platforms.<name>`` and
``settings.briefs``). Every item is mapped on its own: an item that does not map is skipped with a
reason in `SearchPage.malformed`, never failing its page. Trouble with the page itself raises a
`PlatformError`, marked transient when another try may help. The API key never appears in errors.

`base` (the interface and its records), `fields` (reading JSON fields), `apis` (the five
platforms), `client` (the HTTP); the public names are importable from ``connectors.platforms``.
"""

from connectors.platforms.apis import PLATFORM_APIS, api_of
from connectors.platforms.base import PlatformApi, PlatformError, SearchPage, SearchQuery
from connectors.platforms.client import KEY_HEADER, platform_client, search

__all__ = [
    "KEY_HEADER", "PLATFORM_APIS", "PlatformApi", "PlatformError", "SearchPage", "SearchQuery", "api_of",
    "platform_client", "search",
]  # fmt: skip
