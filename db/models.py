"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from db.mailing import Client, GatewaySlot, Mailing, Message
from db.webpages import CountRequest, PageJob

__all__ = ["Client", "CountRequest", "GatewaySlot", "Mailing", "Message", "PageJob"]
