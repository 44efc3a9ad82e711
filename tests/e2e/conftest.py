import pytest

from .server import LocalServer


@pytest.fixture(scope="session")
def server():
    """One local stack for the session; tests use their own ids so they do not meet."""
    running = LocalServer()
    yield running
    running.stop()


@pytest.fixture
def fresh_server():
    """A local stack with an empty database, for tests that need one."""
    running = LocalServer()
    yield running
    running.stop()


@pytest.fixture
def admin(token):
    return token("marketplace:admin")
