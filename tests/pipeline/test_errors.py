from __future__ import annotations

import pickle

from lmforge.pipeline.errors import ConfigError, InputError


def test_errors_survive_a_process_boundary():
    # Pool workers (build_shards, the Dask task runner) send exceptions back pickled.
    err = pickle.loads(pickle.dumps(InputError("data/a.jsonl", "not JSON", line=7)))
    assert isinstance(err, InputError)
    assert (err.path, err.reason, err.line, str(err)) == ("data/a.jsonl", "not JSON", 7, "data/a.jsonl:7: not JSON")
    assert str(pickle.loads(pickle.dumps(ConfigError("train.lr: must be > 0")))) == "train.lr: must be > 0"
