"""Keyed hashes of personal identifiers: the only form in which erased subjects are remembered.

The key comes from the environment variable named by ``privacy.hash_key_env`` and never from a
file in the repository or the lake; without it nothing that needs a keyed hash can run. A hash
is ``sha256(key || kind || ':' || value)``, so the same e-mail gives the same hash in every
table and run (a stable join key), while nobody without the key can test a guess.
"""

from __future__ import annotations

import hashlib
import os

from pyspark.sql import Column
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError

MIN_KEY_LENGTH = 16


def hash_key(env_name: str) -> str:
    """The hashing key from the environment.

    Raises:
        ConfigError: when the variable is unset or too short to be a secret.
    """
    key = os.environ.get(env_name, "")
    if not key:
        raise ConfigError(
            f"privacy.hash_key_env: environment variable {env_name} is not set; "
            f"set it to a secret of at least {MIN_KEY_LENGTH} characters (keep it: "
            "erasures and pseudonyms depend on it)"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"privacy.hash_key_env: {env_name} holds {len(key)} characters; use at least {MIN_KEY_LENGTH}"
        )
    return key


def keyed_hash(kind: str, value: Column, key: str) -> Column:
    """Hex sha256 of ``key || kind:value``; null when ``value`` is null or empty."""
    return F.when(
        value.isNotNull() & (value != ""), F.sha2(F.concat(F.lit(f"{key}{kind}:"), value.cast("string")), 256)
    )


def keyed_hash_of(kind: str, value: str, key: str) -> str:
    """The same hash as :func:`keyed_hash`, computed on the driver for a single value."""
    return hashlib.sha256(f"{key}{kind}:{value}".encode()).hexdigest()
