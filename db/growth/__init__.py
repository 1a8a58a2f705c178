"""Growth automation's tables and queries: connected accounts, the graph they know, jobs and their
candidates, the action log, stats, follower counts, blocks and notices.

`models` (the tables), `accounts` (adding, settings, switches, state), `graph` (users and edges a
sync keeps current), `jobs` (planning, claims and status changes of jobs), `actions` (the action
log, batches, blocks, pacing turns), `reports` (what the dashboard and CLI show), `config` (the job
logic). Functions take a keyword-only ``session`` and never commit: the caller does.
"""
