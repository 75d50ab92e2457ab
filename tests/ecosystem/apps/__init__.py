"""Small apps, one per framework, all serving the shared scenario's routes."""
