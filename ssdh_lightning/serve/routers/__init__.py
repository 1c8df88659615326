"""The app's routers, one a file: the page, searches, items, health."""
