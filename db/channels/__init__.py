"""Channels: microblog brand accounts, their OAuth tokens (encrypted), time slots, posts, repost and
hashtag rules, the repost log, notifications and the timeline watermark. `models` holds the tables;
`channels`, `posts`, `reposts`, `connects` and `reports` hold the queries and status changes."""
