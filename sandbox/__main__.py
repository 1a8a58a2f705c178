"""``python -m sandbox``: serve the sandbox on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from core.settings import get_settings
from sandbox.app import create_app

logger = logging.getLogger("sandbox")


def main() -> None:
    config = get_settings().sandbox
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("sandbox serving at http://%s:%d", config.host, config.port)
    uvicorn.run(
        create_app(config), host=config.host, port=config.port, lifespan="off", timeout_graceful_shutdown=1
    )


if __name__ == "__main__":
    main()
