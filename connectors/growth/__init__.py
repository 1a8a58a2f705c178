"""The photo network the growth domain acts on: one interface (``base.Network``), an HTTP backend
(``http``) and, optionally, an instagrapi backend."""
