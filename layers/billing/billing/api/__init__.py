"""The HTTP edge: request/response models, callers and roles, the error envelope."""
