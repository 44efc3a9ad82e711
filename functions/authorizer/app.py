"""API Gateway TOKEN authorizer: verifies the bearer JWT and hands its billing claims
(sub, roles, org, residency) to the functions. A refused token is a 401."""

import os

from billing.api.auth import allow_policy, deny_policy
from billing.api.tokens import TokenSettings, TokenVerifier
from billing.domain.errors import Unauthenticated
from billing.observability import logger

verifier = TokenVerifier(TokenSettings.from_environment(os.environ))


@logger.inject_lambda_context
def lambda_handler(event, context):
    try:
        claims = verifier.claims(event.get("authorizationToken"))
    except Unauthenticated as refused:
        logger.info("bearer token refused", extra={"reason": refused.message})
        return deny_policy(event["methodArn"], refused.message)  # a 401 that says why (template: ACCESS_DENIED)
    return allow_policy(event["methodArn"], claims)
