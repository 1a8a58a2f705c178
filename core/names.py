"""Names of the deployments and of the runs they start, shared by the flows (which name their own runs)
and by whoever starts one (dashboard, CLI, demo), so that neither imports the other. Imports nothing.
"""

from __future__ import annotations

COUNT_WORDS = "count-words/count-words"
PROCESS_PENDING = "process-pending/process-pending"
# Runs a person starts for one request or mailing have deployments of their own, without the sweeps'
# one-at-a-time limit: a sweep running at that moment must not cancel them.
COUNT_REQUEST = "process-pending/count-request"
DISPATCH_MAILINGS = "dispatch-mailings/dispatch-mailings"
DISPATCH_MAILING = "dispatch-mailings/dispatch-mailing"
SUBMIT_BRIEF = "submit-brief/submit-brief"
COLLECT_BRIEF = "collect-brief/collect-brief"
ANALYSE_BRIEF = "analyse-brief/analyse-brief"
PROCESS_BRIEFS = "process-briefs/process-briefs"
SYNC_ACCOUNT = "sync-account/sync-account"
SYNC_ACCOUNTS = "sync-accounts/sync-accounts"
PLAN_LIKES = "plan-likes/plan-likes"
RUN_LIKES = "run-likes/run-likes"
PLAN_FOLLOWS = "plan-follows/plan-follows"
RUN_FOLLOWS = "run-follows/run-follows"
RUN_UNFOLLOWS = "run-unfollows/run-unfollows"
PUBLISH_DUE_POSTS = "publish-due-posts/publish-due-posts"
POLL_AND_REPOST = "poll-and-repost/poll-and-repost"
REFRESH_TOKENS = "refresh-tokens/refresh-tokens"
DAILY_REPORT = "daily-report/daily-report"
# growth's sweeps are backstops every five minutes; work that appears starts these at once
PLAN_LIKES_NOW = "plan-likes/plan-likes-now"
PLAN_FOLLOWS_NOW = "plan-follows/plan-follows-now"
RUN_FOLLOWS_NOW = "run-follows/run-follows-now"
RUN_LIKES_NOW = "run-likes/run-likes-now"
PLAN_LIKES_RUN = "plan like jobs"
PLAN_FOLLOWS_RUN = "plan follow jobs"
RUN_FOLLOWS_RUN = "run follow jobs"
RUN_LIKES_RUN = "run like jobs"


def pending_run_name(request_id: int | None) -> str:
    """A process-pending run: the pages of one request, or every page waiting."""
    return f"count pages of request {request_id}" if request_id else "process pending pages"


def dispatch_run_name(mailing_id: int | None) -> str:
    """A dispatch-mailings run: the due messages of one mailing, or of all."""
    return f"dispatch mailing {mailing_id}" if mailing_id else "dispatch due messages"


def collect_run_name(brief_id: int) -> str:
    """A collect-brief run."""
    return f"collect brief {brief_id}"


def analyse_run_name(brief_id: int) -> str:
    """An analyse-brief run."""
    return f"analyse brief {brief_id}"


def sync_run_name(account_id: int) -> str:
    """A sync-account run."""
    return f"sync account {account_id}"
