"""Starts `python -m local_stack` (what `make run` runs) on a free port and talks HTTP to it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]


class LocalServer:
    def __init__(self, **environment: str):
        env = {**os.environ, "BILLING_ACCESS_LOG": "false", **environment}
        env.pop("BILLING_DYNAMODB_ENDPOINT", None) if "BILLING_DYNAMODB_ENDPOINT" not in environment else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_stack", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.base_url = self._wait_until_ready(timeout=60)
        self.http = requests.Session()
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_until_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            self.output.append(line)
            found = re.search(r"ready on (http://\S+)/api/billing", line)
            if found:
                return found.group(1)
        self.stop()
        raise RuntimeError("local stack did not become ready:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict | None = None,
        params=None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("/_local") else f"/api/billing{path}"
        return requests.request(
            method, self.base_url + url, json=json, data=data, headers=sent, params=params, timeout=30
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
