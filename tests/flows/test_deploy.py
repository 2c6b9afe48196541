"""`prefect.yaml` and `flows/deploy.py` declare the same deployments, and every entrypoint loads as a Prefect flow."""

from __future__ import annotations

import yaml
from prefect.flows import load_flow_from_entrypoint

from lmforge.flows.deploy import DEPLOYMENTS, REPO_ROOT


def _prefect_yaml() -> dict:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())


def test_prefect_yaml_matches_the_python_deployments():
    declared = {d["name"]: d for d in _prefect_yaml()["deployments"]}
    assert set(declared) == {spec.name for spec in DEPLOYMENTS}
    for spec in DEPLOYMENTS:
        d = declared[spec.name]
        assert d["entrypoint"] == spec.entrypoint
        assert d["work_pool"]["name"] == "lmforge"
        crons = [s["cron"] for s in d.get("schedules") or []]
        assert crons == ([spec.cron] if spec.cron else [])
        assert set(d["parameters"]) <= set(spec.parameters)


def test_entrypoints_load_as_flows_with_the_declared_parameters():
    for spec in DEPLOYMENTS:
        flow = load_flow_from_entrypoint(str(REPO_ROOT / spec.entrypoint))
        accepted = set(flow.parameters.properties)
        assert set(spec.parameters) <= accepted, (spec.name, accepted)


def test_pull_step_sets_the_working_directory():
    (step,) = _prefect_yaml()["pull"]
    assert "prefect.deployments.steps.set_working_directory" in step
