"""Dedup index in Redis, shared by workers on several machines.

Keys (all under one prefix, default `lmforge:dedup`, or `?prefix=` in the URL):
`<p>:meta` (JSON of `index_meta`), `<p>:e:<doc_id>` (hash: digest, created_at, n_chars, sig),
`<p>:x:<digest hex>` (set of doc_ids with that exact digest), `<p>:b:<band>:<hash hex>` (set of doc_ids in that
LSH bucket). Each document's keys are written in one MULTI/EXEC transaction, so an entry is all-or-nothing even if
the writer dies midway; sets make adding the same document twice harmless, and a doc_id added again with another
signature (its document re-curated with other text) leaves the digest set and buckets of its old one in the same
transaction. Connection failures and commands the
server refuses become an `LmforgeError` that says the batch can be re-run; a server that may evict keys without a TTL
(every index key has none) is refused when the index is opened.

A prefix whose `:`-separated parts (after the first) include a kind tag (`e`, `x`, `b`) is refused: the keys of
prefix `team:e` are `team:e:...`, which is where the index with prefix `team` keeps its entries, so the two would
count, drop and even overwrite each other's keys (`team:e:e:a` is both `team:e`'s entry `a` and `team`'s entry
`e:a`). Without such parts two prefixes never share a key: where one is a prefix of the other, the next character
of the longer one's keys differs from the tag that follows in the shorter one's keys.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np
import pyarrow as pa

from lmforge.pipeline.dedup import minhash
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.index import DedupIndex, IndexEntry, Matches, check_meta, index_meta, iter_kept
from lmforge.pipeline.errors import ConfigError, IntegrityError, LmforgeError
from lmforge.pipeline.urls import shown_url

log = logging.getLogger(__name__)

#: Documents per MULTI/EXEC transaction (each document's keys are in the same transaction).
TXN_DOCS = 200
#: Commands per read pipeline.
READ_BATCH = 5000


#: A Redis password kept out of the URL: the URL travels as a Prefect parameter (stored in its database) and
#: appears in logs, so a password belongs here; one given in the URL still works and is masked where shown.
PASSWORD_ENV = "LMFORGE_REDIS_PASSWORD"


def client(url: str, **options):
    """A redis-py client for `url`, with the password from LMFORGE_REDIS_PASSWORD when the URL has none."""
    import redis

    if urlsplit(url).password is None and os.environ.get(PASSWORD_ENV):
        options["password"] = os.environ[PASSWORD_ENV]
    return redis.Redis.from_url(url, **options)


#: The kinds of keys under a prefix (see the module docstring); a prefix must not have one as a part.
KINDS = ("e", "x", "b")


def split_url(spec: str) -> tuple[str, str]:
    """(redis URL without our `prefix` parameter, prefix); a prefix that could share keys with another is refused."""
    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["lmforge:dedup"])[0]
    url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    check_prefix(prefix)
    return url, prefix


def check_prefix(prefix: str) -> None:
    """Refuse a prefix with a kind tag as a part after the first: its keys lie in another index's key space."""
    parts = prefix.split(":")
    for i, part in enumerate(parts[1:], start=1):
        if part in KINDS:
            head = ":".join(parts[:i])
            raise ConfigError(
                f"dedup.index: Redis prefix {prefix!r} has a ':{part}' part, and {head}:{part}:* is where the index "
                f"with prefix {head!r} keeps its keys, so the two indexes would count, drop and overwrite each "
                f"other's: choose a prefix without ':e', ':x' or ':b' parts (e.g. {prefix.replace(':', '-')!r})"
            )


def drop_index(spec: str) -> int:
    """Delete every key of the index at `spec` (tests and explicit resets), whatever its metadata says or whether it
    has any: the way out of an index that `RedisIndex` refuses to open. Returns the keys deleted."""
    url, prefix = split_url(spec)
    with client(url) as redis_client:
        return _drop(redis_client, prefix)


def _drop(redis_client, prefix: str) -> int:
    """Delete `<prefix>:meta` and the `e`/`x`/`b` keys of `prefix`, and nothing else: `<prefix>:*` would also reach
    other indexes whose prefix starts with `<prefix>:` (`lmforge` would drop `lmforge:dedup`)."""
    keys = [f"{prefix}:meta".encode()]
    for kind in KINDS:
        keys += redis_client.scan_iter(match=f"{_glob_literal(prefix)}:{kind}:*", count=1000)
    deleted = 0
    for start in range(0, len(keys), READ_BATCH):
        deleted += redis_client.delete(*keys[start : start + READ_BATCH])
    return deleted


class RedisIndex(DedupIndex):
    def __init__(
        self, spec: str, config: DedupConfig, socket_timeout: float = 10.0, retries: int = 2, *, create: bool = True
    ) -> None:
        """Open the index at `spec`, storing this run's metadata if it has none yet, unless `create` is False (a
        check before any work writes nothing)."""
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._refused = redis.exceptions.ResponseError
        self._changed = redis.exceptions.WatchError
        url, self.prefix = split_url(spec)
        self.where = f"{shown_url(url)} (prefix {self.prefix!r})"
        self.config = config
        self.client = client(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), retries),
        )
        self._meta_key = f"{self.prefix}:meta"
        self._meta: bytes | None = None
        """The metadata as read when opened: every addition checks it is still there (see `_add_table`)."""
        with self._guard("open"):
            self._check_eviction()
            raw = self.client.get(self._meta_key)
            if raw is None:
                self._refuse_entries_without_meta()
                if create:
                    self.client.set(self._meta_key, json.dumps(index_meta(config), sort_keys=True), nx=True)
                    raw = self.client.get(self._meta_key)  # another writer's, if it came first
        if raw is not None:
            try:
                found = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(
                    f"dedup index {self.where}: unreadable {self._meta_key} ({exc}); set it back to the JSON it held, "
                    f"or drop the index (redis_index.drop_index) or use another prefix"
                ) from exc
            check_meta(found, config, self.where)
            self._meta = raw

    def _refuse_entries_without_meta(self) -> None:
        """Entries under a prefix without a meta key were made with parameters nobody knows any more (the key was
        deleted, by hand or by a FLUSH of a pattern): storing this run's metadata would mix its signatures in."""
        for kind in KINDS:
            for _ in self.client.scan_iter(match=f"{_glob_literal(self.prefix)}:{kind}:*", count=1000):
                raise ConfigError(
                    f"dedup index {self.where} holds entries but no {self._meta_key} key (deleted?), so the "
                    f"parameters its signatures were made with are unknown and this run's are not mixed in: drop "
                    f"the index (lmforge.pipeline.dedup.redis_index.drop_index(URL) deletes its keys; the documents "
                    f"it held are then no longer found as duplicates) or set {self._meta_key} back to the JSON it "
                    f"held, or use another prefix"
                )

    def _check_eviction(self) -> None:
        """Refuse a server whose allkeys-* policy evicts index keys when full: entries would vanish without an error
        and their duplicates be kept."""
        try:
            memory = self.client.info("memory")
        except self._refused:  # INFO disabled or renamed (some managed services): nothing to check
            return
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        if int(memory.get("maxmemory") or 0) and policy.startswith("allkeys-"):
            raise ConfigError(
                f"dedup.index: Redis at {self.where} has maxmemory-policy {policy}, so a full server drops index "
                f"entries silently; use one with maxmemory-policy noeviction (or a volatile-* policy), or no maxmemory"
            )

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        # `add` runs once the snapshot is published: a re-run then only adds its entries (curate's `index_pending`)
        state = (
            "the snapshot is published but not all of its documents are in the index yet"
            if what == "add"
            else "nothing was published for this batch"
        )
        try:
            yield
        except self._errors as exc:
            raise LmforgeError(
                f"dedup index {self.where}: Redis unreachable during {what} ({exc}); {state}: start Redis (or fix "
                f"dedup.index) and re-run, finished signatures and index entries are reused"
            ) from exc
        except self._refused as exc:
            raise LmforgeError(
                f"dedup index {self.where}: Redis refused {what} ({exc}); {state}: fix the server (out of memory? a "
                f"read-only replica?) and re-run, finished signatures are reused"
            ) from exc

    def _band_key(self, k: int, value: int) -> str:
        return f"{self.prefix}:b:{k}:{value:016x}"

    def _entry_key(self, doc_id: str) -> str:
        return f"{self.prefix}:e:{doc_id}"

    def lookup(self, digests: Sequence[bytes], bands: np.ndarray, has_shingles: np.ndarray) -> Matches:
        keys: list[tuple[int, str]] = [(q, f"{self.prefix}:x:{d.hex()}") for q, d in enumerate(digests)]
        for q in np.flatnonzero(has_shingles):
            keys += [(int(q), self._band_key(k, int(v))) for k, v in enumerate(bands[q])]
        pairs: set[tuple[int, str]] = set()
        with self._guard("lookup"):
            for start in range(0, len(keys), READ_BATCH):
                chunk = keys[start : start + READ_BATCH]
                pipe = self.client.pipeline(transaction=False)
                for _, key in chunk:
                    pipe.smembers(key)
                for (q, _), members in zip(chunk, pipe.execute(), strict=True):
                    pairs.update((q, m.decode()) for m in members)
            entries = self._entries(sorted({doc_id for _, doc_id in pairs}))
        return Matches(sorted(p for p in pairs if p[1] in entries), entries)

    def _entries(self, doc_ids: list[str]) -> dict[str, IndexEntry]:
        out: dict[str, IndexEntry] = {}
        for start in range(0, len(doc_ids), READ_BATCH):
            chunk = doc_ids[start : start + READ_BATCH]
            pipe = self.client.pipeline(transaction=False)
            for doc_id in chunk:
                pipe.hgetall(self._entry_key(doc_id))
            for doc_id, h in zip(chunk, pipe.execute(), strict=True):
                if not h:
                    continue  # a bucket member without its entry cannot happen with MULTI/EXEC; skip, never guess
                out[doc_id] = self._entry(doc_id, h)
        return out

    def _entry(self, doc_id: str, h: dict[bytes, bytes]) -> IndexEntry:
        """An entry as stored; one changed by hand (a field deleted, a signature cut) is an IntegrityError naming its
        key: a KeyError or a signature of another length compared with this run's gave no hint where to look."""
        try:
            created, sig, digest = h[b"created_at"], h[b"sig"], h[b"digest"]
            n_chars = int(h[b"n_chars"])
            if len(sig) != 4 * self.config.num_perm or len(digest) != 16:
                raise ValueError(f"signature of {len(sig)} bytes, digest of {len(digest)} bytes")
            return IndexEntry(
                doc_id, digest, int(created) if created else None, n_chars, np.frombuffer(sig, "<u4").copy()
            )
        except (KeyError, ValueError) as exc:
            missing = f"no field {exc.args[0].decode()!r}" if isinstance(exc, KeyError) else str(exc)
            raise IntegrityError(
                f"dedup index {self.where}: entry {self._entry_key(doc_id)} is damaged ({missing}; expected fields "
                f"digest (16 bytes), created_at, n_chars and sig ({4 * self.config.num_perm} bytes)): delete it "
                f"(its document is then no longer found as a duplicate) or drop the index (redis_index.drop_index)"
            ) from exc

    def add(self, signatures: Sequence[Path], kept: set[str] | None) -> int:
        added = 0
        for table in iter_kept(signatures, kept, self.config):
            added += self._add_table(table)
        log.info("dedup index %s: added %d documents", self.where, added)
        return added

    def _add_table(self, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        bands = [c for c in table.column_names if c.startswith("band_")]
        num_perm = table.schema.field("sig").type.list_size
        sigs = table.column("sig").combine_chunks().flatten().to_numpy().reshape(-1, num_perm).astype("<u4")
        ids = table.column("doc_id").to_pylist()
        digests = table.column("digest").to_pylist()
        created = table.column("created_at").cast("int64").to_pylist()
        n_chars = table.column("n_chars").to_pylist()
        n_sh = table.column("n_shingles").to_pylist()
        band_vals = np.stack([table.column(c).to_numpy() for c in bands], axis=1) if bands else None
        with self._guard("add"):
            for start in range(0, len(ids), TXN_DOCS):
                chunk = range(start, min(start + TXN_DOCS, len(ids)))
                entry_keys = [self._entry_key(ids[i]) for i in chunk]
                while True:
                    with self.client.pipeline(transaction=True) as pipe:
                        # the meta key must still be the one checked at open: entries written after it was deleted
                        # (or replaced by another run's) would be of unknown parameters to every later run; the
                        # entries are watched too, so the old values read below are still theirs at EXEC
                        pipe.watch(self._meta_key, *entry_keys)
                        self._check_meta_unchanged(pipe.get(self._meta_key))
                        old = self._old_entries(entry_keys)
                        pipe.multi()
                        for i, (old_digest, old_sig) in zip(chunk, old, strict=True):
                            new_bands = band_vals[i] if n_sh[i] > 0 and band_vals is not None else None
                            self._queue_unlink(pipe, ids[i], old_digest, old_sig, digests[i], sigs[i], new_bands)
                            self._queue_entry(pipe, ids[i], digests[i], created[i], n_chars[i], sigs[i])
                            if new_bands is not None:
                                for k in range(len(bands)):
                                    pipe.sadd(self._band_key(k, int(new_bands[k])), ids[i])
                        try:
                            pipe.execute()
                            break
                        except self._changed:
                            continue  # the meta key or an entry changed meanwhile: read them again
        return len(ids)

    def _old_entries(self, entry_keys: list[str]) -> list[tuple[bytes | None, bytes | None]]:
        """(digest, sig) of each entry as stored now ((None, None) where there is none)."""
        pipe = self.client.pipeline(transaction=False)
        for key in entry_keys:
            pipe.hmget(key, ["digest", "sig"])
        return [(d, s) for d, s in pipe.execute()]

    def _queue_unlink(
        self,
        pipe,
        doc_id: str,
        old_digest: bytes | None,
        old_sig: bytes | None,
        digest: bytes,
        sig: np.ndarray,
        new_bands: np.ndarray | None,
    ) -> None:
        """Take `doc_id` out of the digest set and LSH buckets of the entry it replaces (a document re-curated with
        other text under the same id): left there, the old text's digest and bands kept making the document a
        candidate of every later copy of the old text, and the keys of every edit ever made stayed in Redis."""
        if old_digest is not None and old_digest != digest:
            pipe.srem(f"{self.prefix}:x:{old_digest.hex()}", doc_id)
        if old_sig is None or old_sig == sig.tobytes():
            return
        num_perm = self.config.num_perm
        if len(old_sig) != 4 * num_perm:  # cannot be: the meta key fixes num_perm; never guess its bands
            log.warning("dedup index %s: entry %r has a signature of %d bytes; its old buckets stay", self.where,
                        doc_id, len(old_sig))  # fmt: skip
            return
        old_bands = minhash.band_hashes(np.frombuffer(old_sig, dtype="<u4")[None, :], *minhash.band_params(self.config))
        for k, value in enumerate(old_bands[0]):
            if new_bands is None or int(new_bands[k]) != int(value):
                pipe.srem(self._band_key(k, int(value)), doc_id)

    def _check_meta_unchanged(self, raw: bytes | None) -> None:
        if raw is None or raw != self._meta:  # None both ways: an index opened with create=False adds nothing
            raise ConfigError(
                f"dedup index {self.where}: {self._meta_key} was "
                f"{'deleted' if raw is None else 'replaced'} while this run added its documents, so its entries' "
                f"parameters can no longer be checked: set it back to the JSON it held, or drop the index "
                f"(redis_index.drop_index) and re-curate; the snapshot is published, its index entries are incomplete"
            )

    def _queue_entry(self, pipe, doc_id: str, dig: bytes, created: int | None, n_chars: int, sig: np.ndarray) -> None:
        mapping = {"digest": dig, "created_at": "" if created is None else str(created), "n_chars": n_chars}
        pipe.hset(self._entry_key(doc_id), mapping={**mapping, "sig": sig.tobytes()})
        pipe.sadd(f"{self.prefix}:x:{dig.hex()}", doc_id)

    def count(self) -> int:
        """Indexed documents (for tests and `lmforge dedup` reports)."""
        with self._guard("count"):
            return sum(1 for _ in self.client.scan_iter(match=f"{_glob_literal(self.prefix)}:e:*", count=1000))

    def drop(self) -> None:
        """Delete every key of this index (tests and explicit resets only)."""
        with self._guard("drop"):
            _drop(self.client, self.prefix)

    def close(self) -> None:
        self.client.close()


def _glob_literal(text: str) -> str:
    """`text` as a SCAN MATCH pattern that matches only itself: the glob's `* ? [ ] \\` escaped."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
