"""One router per domain (``clients``, ``mailings``, ``messages``, ``webpages``; ``health`` unprotected)."""
