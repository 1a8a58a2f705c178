"""``python -m sandbox``: serve the sandbox on the configured host and port, and the SMTP stand-in
beside it on ``sandbox.smtp_port``."""

from __future__ import annotations

import logging

import uvicorn

from core.settings import get_settings
from sandbox.app import create_app
from sandbox.smtp import running_smtp

logger = logging.getLogger("sandbox")


def main() -> None:
    config = get_settings().sandbox
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    app = create_app(config)
    with running_smtp(app.state.mailbox, config, config.smtp_port) as smtp_port:
        logger.info("sandbox SMTP stand-in at smtp://%s:%d", config.host, smtp_port)
        logger.info("sandbox serving at http://%s:%d", config.host, config.port)
        uvicorn.run(app, host=config.host, port=config.port, lifespan="off", timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()
