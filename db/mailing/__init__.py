"""Mailing dispatch in the database: clients, mailings and their messages; status transitions and queries.

A mailing's messages go new → sending (claimed, with a lease) → sent | failure, or cancelled when
the mailing is cancelled or deleted before they are sent. The package owns those transitions:
``models`` (the tables), ``clients``, ``csv_import``, ``mailings`` (create, change, cancel),
``stats`` (what people are shown) and ``dispatch`` (claims, outcomes, expiry). Functions take a
keyword-only ``session`` and never commit: the caller does. The names used elsewhere are
re-exported here.
"""

from db.mailing.clients import add_client, count_clients, delete_client, find_clients, update_client
from db.mailing.csv_import import IMPORT_COLUMNS, ImportReport, import_clients_csv
from db.mailing.mailings import (
    CreatedMailing,
    cancel_mailing,
    create_mailing,
    delete_mailing,
    update_mailing,
)
from db.mailing.models import UNSET, Client, Mailing, Message, Unset
from db.mailing.stats import (
    MailingDetail,
    MailingState,
    MailingStats,
    MessageProblem,
    count_messages,
    find_messages,
    mailing_detail,
    mailing_stats,
    mailing_text,
    mailing_texts,
    message_totals,
)
from rules.mailing import MessageStatus

__all__ = [
    "IMPORT_COLUMNS",
    "UNSET",
    "Client",
    "CreatedMailing",
    "ImportReport",
    "Mailing",
    "MailingDetail",
    "MailingState",
    "MailingStats",
    "Message",
    "MessageProblem",
    "MessageStatus",
    "Unset",
    "add_client",
    "cancel_mailing",
    "count_clients",
    "count_messages",
    "create_mailing",
    "delete_client",
    "delete_mailing",
    "find_clients",
    "find_messages",
    "import_clients_csv",
    "mailing_detail",
    "mailing_stats",
    "mailing_text",
    "mailing_texts",
    "message_totals",
    "update_client",
    "update_mailing",
]
