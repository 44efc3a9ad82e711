"""Persistence. `dynamodb` modules are the only code that touches DynamoDB; `memory` holds
in-memory fakes with the same behaviour for fast unit tests of the services."""
