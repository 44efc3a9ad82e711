"""The local stack (never deployed): serves the billing API from template.yaml on an embedded
DynamoDB, the way API Gateway and Lambda would. See `python -m local_stack --help`."""
