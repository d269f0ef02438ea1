"""What the hosted judges share: the key from the environment, error classification, Retry-After."""

from __future__ import annotations

import email.utils
import os
import time
from typing import Any

from evalgate.errors import ConfigError
from evalgate.judging.engine import PermanentError, TransientError


def api_key(env: str, provider: str) -> str:
    """The API key, from the environment only; a missing one is one line naming the variable."""
    from evalgate.redact import remember

    key = os.environ.get(env, "").strip()
    remember(key, env)
    if not key:
        raise ConfigError(
            f"judge.provider {provider}: the environment variable {env} is not set; export it "
            f"(in CI: a repository secret mapped to {env}) or set judge.provider: local"
        )
    return key


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, `retry-after` (seconds or an HTTP date), or None."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed is not None else None


def classify(exc: Exception, sdk: Any, key_env: str) -> Exception:
    """An SDK exception as a TransientError (retry) or a PermanentError (stop), its message
    free of the key (the SDKs never put it in messages; the server's reply is cut short)."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError("the request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return TransientError(f"connection failed: {type(exc).__name__}")
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        detail = str(getattr(exc, "message", "") or "")[:200]
        if status in (408, 409, 429) or status >= 500:
            return TransientError(f"HTTP {status}: {detail}", retry_after(exc.response.headers), status)
        if status in (401, 403):
            return PermanentError(f"HTTP {status}: the API refused the key in {key_env}: {detail}")
        return PermanentError(f"HTTP {status}: {detail}")
    if isinstance(exc, (sdk.APIResponseValidationError, ValueError)):
        return TransientError(f"unreadable response: {type(exc).__name__}")
    return exc
