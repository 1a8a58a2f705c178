"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from db.briefs import Brief, BriefAccount, BriefArticle, BriefSearch
from db.mailing import Client, GatewaySlot, Mailing, Message
from db.webpages import CountRequest, PageJob

__all__ = [
    "Brief",
    "BriefAccount",
    "BriefArticle",
    "BriefSearch",
    "Client",
    "CountRequest",
    "GatewaySlot",
    "Mailing",
    "Message",
    "PageJob",
]
