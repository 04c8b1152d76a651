"""Transport-level speed work, kept apart from the code a reader follows; see README.md here. A reader may skip it."""
