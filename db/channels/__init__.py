"""Channels: microblog brand accounts, their OAuth tokens (encrypted), time slots, posts, repost and
hashtag rules, the repost log, notifications and the timeline watermark. `models` holds the tables;
queries and status changes come with the flows (issue 9, in progress)."""
