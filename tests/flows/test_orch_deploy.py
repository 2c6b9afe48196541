"""`lmforge deploy` against a real (temporary) Prefect API: a pool of another type is refused, and deploying twice
keeps one deployment and one schedule each, at the times and timezone README.md gives."""

from __future__ import annotations

import pytest

from lmforge.flows.deploy import DEPLOYMENTS, deploy_all, ensure_pool
from lmforge.pipeline.errors import ConfigError


def _deployments() -> dict[str, object]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {d.name: d for d in client.read_deployments() if d.work_pool_name == "lmforge-twice"}


@pytest.mark.usefixtures("prefect_harness")
def test_a_pool_of_another_type_is_refused():
    """`lmforge deploy --pool gpu` found a docker (or kubernetes) pool of that name and registered lmforge's
    deployments on it: `lmforge worker` (a process worker) never ran them, and a worker of the pool's own type ran
    them without the checkout and the installed package their entrypoints need."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="lmforge-docker", type="docker"))
    with pytest.raises(ConfigError, match=r"--pool: work pool 'lmforge-docker' is a 'docker' pool, not a process"):
        ensure_pool("lmforge-docker")
    assert ensure_pool("lmforge-process") is True and ensure_pool("lmforge-process") is False


@pytest.mark.usefixtures("prefect_harness")
def test_deploying_twice_keeps_one_deployment_and_one_schedule_each(tmp_path):
    (tmp_path / "raw").mkdir()
    ensure_pool("lmforge-twice")
    first = deploy_all(str(tmp_path / "ws"), str(tmp_path / "raw"), None, pool="lmforge-twice")
    again = deploy_all(str(tmp_path / "ws"), str(tmp_path / "raw"), None, pool="lmforge-twice")
    assert first == again
    deployed = _deployments()
    assert set(deployed) == {spec.name for spec in DEPLOYMENTS}
    crons = {
        name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules] for name, d in deployed.items()
    }
    assert crons == {
        "curate-daily": [("0 2 * * *", "UTC", True)],
        "train-weekly": [("0 4 * * 0", "UTC", True)],
        "run": [],
    }


def test_an_empty_selection_deploys_nothing_and_says_so(tmp_path):
    """`only=[]` registered every deployment, schedules included, as if no selection had been made."""
    with pytest.raises(ConfigError, match=r"--only: no deployment given; choose from \['curate-daily', 'run'"):
        deploy_all(str(tmp_path / "ws"), str(tmp_path / "raw"), None, pool="lmforge-none", only=[])


@pytest.mark.usefixtures("prefect_harness")
def test_a_relative_config_path_is_deployed_absolute(tmp_path, monkeypatch):
    """The workspace and input root were resolved, the config path not: a deployed run starts in the worker's
    checkout, where `my.toml` is another file or none ("config file not found" at 02:00)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "my.toml").write_text("[train]\nmax_steps = 3\n", encoding="utf-8")
    ensure_pool("lmforge-relative")
    deploy_all("ws", "raw", "my.toml", pool="lmforge-relative", only=["curate-daily"])
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        (deployed,) = [d for d in client.read_deployments() if d.work_pool_name == "lmforge-relative"]
    assert deployed.parameters == {
        "workspace": str(tmp_path / "ws"),
        "input_root": str(tmp_path / "raw"),
        "config_path": str(tmp_path / "my.toml"),
    }
