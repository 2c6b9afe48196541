"""The `register` flow through real Prefect (test harness) and real MLflow: version, aliases, gate, flow-run tags."""

from __future__ import annotations

import pytest

from lmforge.pipeline.errors import LmforgeError
from tests.pipeline.registry.conftest import chain, trained  # noqa: F401  (session fixtures shared with the registry tests)

FLOW_MODEL = "lmforge-flow"


def test_register_flow_registers_promotes_and_records_the_flow_run(prefect_harness, chain, trained) -> None:  # noqa: F811
    from lmforge.flows.register import register_flow
    from lmforge.pipeline.registry.registry import resolve_version

    overrides = {"registry": {"model_name": FLOW_MODEL}}
    with pytest.raises(LmforgeError, match="trained on shards"):
        register_flow(
            workspace=str(chain.workspace), run_dir=str(trained), shards_id="0000000000000000", overrides=overrides
        )
    result = register_flow(
        workspace=str(chain.workspace), run_dir=str(trained), shards_id=chain.shards.name, overrides=overrides
    )
    assert result["aliases"] == ["candidate", "champion"] and result["gate"]["promoted"]
    version = resolve_version(f"models:/{FLOW_MODEL}@champion")
    assert str(version.version) == "1"  # the refused call above registered nothing
    tags = dict(version.tags)
    assert len(tags["lmforge.prefect.flow_run_id"]) == 36 and tags["lmforge.shards"] == chain.shards.name
