"""The service API (FastAPI): ``api.app:create_app``, and its metrics (``api.metrics``).

Layout, and how to add a domain's resources (briefs, growth, channels come next this way):

- ``api/routers/<domain>.py``: one ``APIRouter(prefix="/<resources>", tags=[...],
  dependencies=[Depends(authorize)])``; each route calls the domain's command (``commands/<domain>.py``)
  to change something and the domain's db queries (``db/<domain>``) to read, in
  ``with session_factory().begin() as session:`` — never a third copy of the logic. A query the
  route needs and the db module lacks is added to the db module, not written in the router.
  Declare every answer: ``responses=errors(401, 403, 404, 422, 429)`` (500 is always added).
  Lists take ``page: Annotated[PageParams, Depends(page_params)]`` and return ``Page[ItemOut]``.
  A POST that creates work takes ``caller: Caller`` and ``idempotency_key: IdempotencyKey = None``
  and returns ``run_once(..., work=work)``, where ``work(run_key)`` passes ``run_key`` on to
  ``deployments.runs``' starter (``idempotency_key=run_key``). Include the router in ``app.py``.
- ``api/schemas/<domain>.py``: pydantic request (``extra="forbid"``) and answer models; field types
  from ``api/schemas/common.py`` (text without NUL, UTC timestamps, bounded ids).
- ``api/problems.py``: RFC 9457 problem+json for every error; a ValueError from a command is a 422,
  ``db.base.NotFound`` a 404, ``db.base.Conflict`` a 409; ``ApiProblem`` for anything else.
- ``api/auth.py``: API keys (scopes, rate limit); ``api/pagination.py``; ``api/idempotency.py``.
"""

from api.logs import snapshot

UVICORN_LOGGING = snapshot()  # before anything imports Prefect; create_app puts it back
