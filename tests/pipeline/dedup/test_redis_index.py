"""Redis index under concurrency and failure: two writer processes, a writer killed midway, Redis unreachable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.index import open_index
from lmforge.pipeline.dedup.redis_index import RedisIndex, drop_index
from lmforge.pipeline.dedup.signatures import compute_signatures
from lmforge.pipeline.errors import ConfigError, LmforgeError
from tests.support.dedup import doc, paragraphs, write_part

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[3]
NUM_PERM = DedupConfig().num_perm

#: A writer in its own process: small transactions so a kill lands between (or inside) them.
WRITER = """
import sys
from pathlib import Path
from lmforge.pipeline.dedup import redis_index
from lmforge.pipeline.dedup.config import DedupConfig
redis_index.TXN_DOCS = int(sys.argv[3])
index = redis_index.RedisIndex(sys.argv[1], DedupConfig())
print("ready", flush=True)
index.add([Path(sys.argv[2])], None)
"""


@pytest.fixture
def spec(redis_url):
    spec = f"{redis_url}?prefix=lmforge-test:{uuid.uuid4().hex[:12]}"
    yield spec
    drop_index(spec)  # whatever parameters (or metadata) the test left it with


def _random_docs(prefix: str, n: int, seed: int) -> list[dict]:
    words = " ".join(paragraphs("en")).split()
    rng = random.Random(seed)
    return [doc(f"{prefix}-{i:05d}", " ".join(rng.choices(words, k=30))) for i in range(n)]


def _signatures(tmp: Path, name: str, docs: list[dict]) -> Path:
    part = write_part(tmp / name / "part-00000.parquet", docs)
    return compute_signatures(part, DedupConfig(), tmp / name / "sigs")


def _writer(spec: str, sig: Path, txn_docs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, spec, str(sig), str(txn_docs)], stdout=subprocess.PIPE, text=True, env=env
    )


def _assert_consistent(index: RedisIndex) -> set[str]:
    """Every entry is whole, and every bucket or digest member has its entry: nothing half-written."""
    client, p = index.client, index.prefix
    entries = sorted(k.decode().split(":e:", 1)[1] for k in client.scan_iter(match=f"{p}:e:*", count=5000))
    pipe = client.pipeline(transaction=False)
    for doc_id in entries:
        pipe.hgetall(f"{p}:e:{doc_id}")
    for h in pipe.execute():
        assert set(h) == {b"digest", b"created_at", b"n_chars", b"sig"}
        assert len(h[b"sig"]) == 4 * NUM_PERM and len(h[b"digest"]) == 16
    keys = [k for pattern in (f"{p}:b:*", f"{p}:x:*") for k in client.scan_iter(match=pattern, count=5000)]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.smembers(key)
    members = {m.decode() for ms in pipe.execute() for m in ms}
    assert members <= set(entries)
    return set(entries)


def test_two_concurrent_writers(tmp_path, spec):
    sig_a = _signatures(tmp_path, "a", _random_docs("a", 150, 1))
    sig_b = _signatures(tmp_path, "b", _random_docs("b", 150, 2))
    writers = [_writer(spec, sig_a, 20), _writer(spec, sig_b, 20)]
    for w in writers:
        assert w.wait(120) == 0
    index = RedisIndex(spec, DedupConfig())
    entries = _assert_consistent(index)
    assert len(entries) == 300
    # A third batch repeating both is found entirely in the index.
    docs = _random_docs("a", 150, 1)[:25] + _random_docs("b", 150, 2)[:25]
    for d in docs:
        d["doc_id"] = "c-" + d["doc_id"]
    part = write_part(tmp_path / "c" / "part-00000.parquet", docs)
    sig_c = compute_signatures(part, DedupConfig(), tmp_path / "c" / "sigs")
    result = find_duplicates([part], [sig_c], DedupConfig(), tmp_path, index)
    assert result.stats["index_matches"] == 50
    assert {r["duplicate_of"] for r in result.duplicates.to_pylist()} == {d["doc_id"][2:] for d in docs}


def test_writer_killed_midway_leaves_no_corrupt_entries_and_resumes(tmp_path, spec):
    docs = _random_docs("k", 600, 3)
    sig = _signatures(tmp_path, "k", docs)
    writer = _writer(spec, sig, 5)
    assert writer.stdout.readline().strip() == "ready"
    index = RedisIndex(spec, DedupConfig())
    deadline = time.monotonic() + 60
    while not index.client.exists(f"{index.prefix}:e:k-00100") and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait(30)
    partial = _assert_consistent(index)
    assert 0 < len(partial) <= len(docs)
    index.add([sig], None)  # resume: re-adding is harmless
    assert _assert_consistent(index) == {d["doc_id"] for d in docs}


def test_redis_unreachable_is_a_clear_error(tmp_path, spec):
    with pytest.raises(LmforgeError, match="unreachable"):
        open_index("redis://127.0.0.1:1/0?prefix=nothing", tmp_path, DedupConfig())
    docs = _random_docs("u", 20, 4)
    part = write_part(tmp_path / "u" / "part-00000.parquet", docs)
    sig = compute_signatures(part, DedupConfig(), tmp_path / "u" / "sigs")
    import redis

    index = RedisIndex(spec, DedupConfig())
    index.client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=1, retry=None
    )  # the server goes away mid-run
    with pytest.raises(LmforgeError, match="re-run"):
        find_duplicates([part], [sig], DedupConfig(), tmp_path, index)
    with pytest.raises(LmforgeError, match="unreachable"):
        index.add([sig], None)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cretPw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://ops:s3cretPw@[::1]:6380/2?ssl_cert_reqs=none", "rediss://ops:***@[::1]:6380/2?ssl_cert_reqs=none"),
    ],
)
def test_a_redis_password_is_never_shown(url, shown, monkeypatch):
    """The index URL reaches logs (Prefect keeps them) and error messages: its password is masked there, and one
    from LMFORGE_REDIS_PASSWORD keeps it out of the URL (a Prefect parameter) altogether."""
    from lmforge.flows.api import check_index
    from lmforge.pipeline.dedup.redis_index import PASSWORD_ENV, client, shown_url

    assert shown_url(url) == shown
    unreachable = url.replace("cache:6379", "127.0.0.1:9").replace("[::1]:6380", "127.0.0.1:9").replace(":6379", ":9")
    with pytest.raises(LmforgeError) as failed:
        check_index(unreachable)
    assert "s3cretPw" not in str(failed.value) and "unreachable" in str(failed.value)
    monkeypatch.setenv(PASSWORD_ENV, "fromEnv1")
    kwargs = client(url).connection_pool.connection_kwargs
    assert kwargs.get("password") == ("s3cretPw" if "s3cretPw" in url else "fromEnv1")  # the URL's wins


@pytest.mark.parametrize(
    ("maxmemory", "policy", "refused"), [(1 << 30, "allkeys-lru", True), (0, "allkeys-lru", False)]
)
def test_a_redis_that_evicts_index_keys_is_refused(spec, monkeypatch, maxmemory, policy, refused):
    """Under an allkeys-* policy a full Redis silently drops index keys, and duplicates of what they held are then
    kept without a word: refuse such a server up front (volatile-* policies never touch keys without a TTL)."""
    import redis

    fake = {"maxmemory": maxmemory, "maxmemory_policy": policy}
    monkeypatch.setattr(redis.Redis, "info", lambda self, section=None, *a, **k: fake if section == "memory" else {})
    if refused:
        with pytest.raises(ConfigError, match="allkeys-lru.*noeviction"):
            RedisIndex(spec, DedupConfig())
    else:
        RedisIndex(spec, DedupConfig()).close()


def test_redis_refusing_a_command_is_a_clear_error(tmp_path, spec):
    """A server that answers with an error (out of memory under noeviction, a read-only replica after a failover,
    a key of another type) stops the batch with an LmforgeError that says so, not a redis-py traceback."""
    docs = _random_docs("r", 20, 5)
    part = write_part(tmp_path / "r" / "part-00000.parquet", docs)
    sig = compute_signatures(part, DedupConfig(), tmp_path / "r" / "sigs")
    index = RedisIndex(spec, DedupConfig())
    digest = pq.read_table(sig, columns=["digest"]).column("digest")[0].as_py()
    index.client.set(f"{index.prefix}:x:{digest.hex()}", "not a set")
    with pytest.raises(LmforgeError, match="refused .*re-run"):
        find_duplicates([part], [sig], DedupConfig(), tmp_path, index)
    with pytest.raises(LmforgeError, match="refused") as failed:
        index.add([sig], None)
    assert "WRONGTYPE" in str(failed.value)


def test_a_prefix_with_glob_characters_counts_and_drops_only_its_own_keys(tmp_path, redis_url):
    """`count` and `drop` list keys with SCAN MATCH, a glob: `team*` must not reach `team-b`'s index."""
    tag = uuid.uuid4().hex[:8]
    mine = RedisIndex(f"{redis_url}?prefix=t{tag}*[x]?", DedupConfig())
    other = RedisIndex(f"{redis_url}?prefix=t{tag}-b[x]-", DedupConfig())
    try:
        other.add([_signatures(tmp_path, "other", _random_docs("o", 5, seed=1))], None)
        mine.add([_signatures(tmp_path, "mine", _random_docs("m", 3, seed=2))], None)
        assert (mine.count(), other.count()) == (3, 5)
        mine.drop()
        assert (mine.count(), other.count()) == (0, 5)
    finally:
        other.drop()
        mine.drop()


def test_a_redis_database_the_server_does_not_have_is_a_one_line_config_error(redis_url):
    """`--index redis://host:6379/99` on a server with 16 databases: the server answers (so it is not
    "unreachable") but refuses the database; the check before any work says so, naming the option."""
    from lmforge.flows.api import check_index

    url = redis_url.rsplit("/", 1)[0] + "/99999"
    with pytest.raises(ConfigError, match=r"--index: Redis at redis://127\.0\.0\.1:6379/99999 refused .*out of range"):
        check_index(url)


def test_redis_gone_while_adding_a_published_snapshot_says_so(tmp_path):
    """`add` runs after the snapshot is published: if Redis goes away then, the snapshot is there and only its index
    entries are missing, so the error must not claim that nothing was published; it says that re-running finishes
    the index (`index_pending`)."""
    import shutil

    from tests.support.servers import HOST, free_port, process, stop

    if not shutil.which("redis-server"):
        pytest.skip("no redis-server binary to start and stop a private server")
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with process(argv, dict(os.environ), tmp_path / "redis.log") as server:
        index, deadline = None, time.monotonic() + 30
        while index is None:
            try:
                index = RedisIndex(f"redis://{HOST}:{port}/10", DedupConfig(), socket_timeout=2, retries=0)
            except LmforgeError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        sig = _signatures(tmp_path, "g", _random_docs("g", 20, 6))
        stop(server)  # the server goes away between the lookup and the addition
        with pytest.raises(LmforgeError) as failed:
            index.add([sig], None)
    message = str(failed.value)
    assert "unreachable during add" in message and "\n" not in message
    assert "nothing was published" not in message
    assert "snapshot is published" in message and "re-run" in message


def test_a_prefix_in_another_index_key_space_is_refused(tmp_path, redis_url):
    """Prefix `P:e` keys lie where the index with prefix `P` keeps its entries: `P`'s count took `P:e`'s meta and
    entries for its own (and `P:e:e:a` is both `P:e`'s entry `a` and `P`'s entry `e:a`), and `P`'s drop (`P:*`) also
    deleted every index nested under `P:`. Such a prefix is refused; a nested one without a kind tag part shares no
    key with `P`, in count and in drop."""
    tag = uuid.uuid4().hex[:8]
    outer = RedisIndex(f"{redis_url}?prefix=t{tag}", DedupConfig())
    nested = RedisIndex(f"{redis_url}?prefix=t{tag}:nested", DedupConfig())
    try:
        for prefix in (f"t{tag}:e", f"t{tag}:x:1", f"t{tag}:nested:b", f"t{tag}:e:a"):
            with pytest.raises(ConfigError, match=r"Redis prefix .* has a ':[exb]' part.*choose a prefix without"):
                RedisIndex(f"{redis_url}?prefix={prefix}", DedupConfig())
        outer.add([_signatures(tmp_path, "outer", _random_docs("o", 5, seed=1))], None)
        nested.add([_signatures(tmp_path, "nested", _random_docs("n", 3, seed=2))], None)
        assert (outer.count(), nested.count()) == (5, 3)
        outer.drop()
        assert (outer.count(), nested.count()) == (0, 3)
        assert nested.client.exists(f"t{tag}:nested:meta")
    finally:
        drop_index(f"{redis_url}?prefix=t{tag}:nested")
        drop_index(f"{redis_url}?prefix=t{tag}")
    assert list(outer.client.scan_iter(match=f"t{tag}*")) == []


def test_entries_without_meta_are_refused_until_the_index_is_dropped(tmp_path, spec):
    """With its meta key deleted, the next run took the index for a new one and stored its own parameters beside
    entries made with others (num_perm 64 here): refused, saying how to recover, and nothing is written."""
    small = DedupConfig(num_perm=64)
    part = write_part(tmp_path / "m" / "part-00000.parquet", _random_docs("m", 10, 7))
    index = RedisIndex(spec, small)
    index.add([compute_signatures(part, small, tmp_path / "m" / "sigs")], None)
    index.client.delete(f"{index.prefix}:meta")
    for create in (True, False):
        with pytest.raises(ConfigError, match=r"holds entries but no .*:meta key.*drop the index"):
            RedisIndex(spec, DedupConfig(), create=create)
    assert not index.client.exists(f"{index.prefix}:meta") and index.count() == 10
    assert drop_index(spec) > 10
    assert RedisIndex(spec, DedupConfig()).count() == 0  # a fresh index from here


def test_meta_deleted_while_adding_stops_the_addition(tmp_path, spec):
    """The meta key deleted between opening and adding: entries written then would have no parameters to check a
    later run against, so the addition stops before writing any."""
    index = RedisIndex(spec, DedupConfig())
    sig = _signatures(tmp_path, "d", _random_docs("d", 10, 8))
    index.client.delete(f"{index.prefix}:meta")
    with pytest.raises(ConfigError, match=r":meta was deleted while this run added its documents"):
        index.add([sig], None)
    assert index.count() == 0
