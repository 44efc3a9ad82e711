"""Use cases. Each takes its store(s), the acting caller where it matters, and `now`."""
