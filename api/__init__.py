"""The service API: the FastAPI app for the services that called the old systems, and its metrics."""
