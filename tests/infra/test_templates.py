"""The infra/ templates cannot run here (no Docker, Slurm or Kubernetes): check they parse and agree with the CLI."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_compose_has_the_services_and_wires_them_together():
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect-server", "mlflow", "minio", "redis", "worker"} <= set(services)
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    mlflow_cmd = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://" in mlflow_cmd and "--artifacts-destination=s3://" in mlflow_cmd
    worker = services["worker"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    for name, service in services.items():  # every dependency is a service of this file
        assert set(service.get("depends_on", {})) <= set(services), name
    for build in (s["build"] for s in services.values() if "build" in s):
        assert (INFRA / build["context"] / build["dockerfile"]).is_file()
    assert "CREATE DATABASE prefect" in (INFRA / "postgres" / "init.sql").read_text()


def test_kubernetes_job_is_indexed_with_a_headless_service():
    service, job = yaml.safe_load_all((INFRA / "k8s" / "train-job.yaml").read_text())
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["NNODES"]) == spec["completions"]
    assert int(env["NPROC"]) == container["resources"]["limits"]["nvidia.com/gpu"]
    args = container["args"][0]
    for option in ("--nproc", "--nnodes", '--node-rank "$JOB_COMPLETION_INDEX"', "--rdzv-endpoint"):
        assert option in args


def test_slurm_template_is_valid_bash_and_uses_the_train_options():
    script = INFRA / "slurm" / "train.sbatch"
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for option in ("--nnodes", "--node-rank", "--rdzv-endpoint", "--nproc", "--shards", "--config"):
        assert option in text


@pytest.mark.parametrize("option", ["--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint"])
def test_train_command_has_the_options_the_templates_use(option):
    from lmforge.flows.commands.train import command

    assert option in {o for p in command.params for o in p.opts}


# -- every `lmforge …` the templates run or tell the reader to run is a command line the real CLI accepts ----------
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(?::[A-Z]+)?$")  # N, ID, HOST:PORT in prose
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}?")


def _shell_values() -> dict[str, str]:
    """What the variables the templates expand hold on a 2-node run: the k8s env, the sbatch defaults, Slurm's own."""
    _, job = yaml.safe_load_all((INFRA / "k8s" / "train-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    values = {e["name"]: str(e["value"]) for e in container["env"]}
    sbatch = (INFRA / "slurm" / "train.sbatch").read_text()
    for name, default in re.findall(r"^(?:export )?([A-Z_]+)=\$\{\w+:-([^}]*)\}", sbatch, re.M):
        values.setdefault(name, default)
    values.update(JOB_COMPLETION_INDEX="1", SLURM_JOB_NUM_NODES="2", SLURM_NODEID="1", SHARDS_ID="abc123")
    return values


def _mentions(text: str, where: str, complete: bool | None) -> list[tuple[str, list[str], bool]]:
    """`lmforge <command> …` runs in `text`; `complete=None`: a command line when it has options (a comment's
    copy-and-paste example), a prose mention (`lmforge train`, whose …) when it has none."""
    from lmforge.flows.commands import COMMANDS

    names, values = {c.name for c in COMMANDS}, _shell_values()
    found = []
    for match in re.finditer(r"(?:^|[\s`\"/(])lmforge\"? +([a-z]+)\b([^`;|&)\n]*)", text):
        if match.group(1) not in names:
            continue  # "lmforge + dependencies", "lmforge beyond one laptop"
        rest = _SHELL_VAR.sub(lambda m: values.get(m.group(1), m.group(2) or "x"), match.group(2))
        found.append((where, [match.group(1), *shlex.split(rest)], complete if complete is not None else "--" in rest))
    return found


def _invocations() -> list[tuple[str, list[str], bool]]:
    """`(where, argv after "lmforge", is_a_command_line)` for every mention in infra/: prose mentions are checked for
    their options only, command lines (YAML commands, shell lines, code blocks) also for required options and values."""
    found = []
    for rel in ("compose.yaml", "k8s/train-job.yaml"):
        text = (INFRA / rel).read_text()
        comments = re.sub(r"\\\n#\s*", " ", "\n".join(ln for ln in text.splitlines() if ln.lstrip().startswith("#")))
        found += _mentions(comments, f"{rel} (comments)", None)
        stack = list(yaml.safe_load_all(text))
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                stack += node.values()
            elif isinstance(node, list) and node and node[0] == "lmforge":
                found.append((f"{rel} (command)", node[1:], True))
            elif isinstance(node, list):
                stack += node
            elif isinstance(node, str):
                found += _mentions(node, f"{rel} (string)", True)
    # Slurm's srun line splices the batch script's values into single quotes: '"$X"' is just $X to us.
    sbatch = re.sub(r"\\\n\s*", " ", (INFRA / "slurm" / "train.sbatch").read_text())
    sbatch = sbatch.replace('"\'"', "").replace("'\"", "").replace("\"'", "")
    for line in sbatch.splitlines():
        found += _mentions(line, "slurm/train.sbatch", None if line.startswith("#") else True)
    readme = (INFRA / "README.md").read_text()
    for block in re.findall(r"```\w*\n(.*?)```", readme, re.S):
        found += _mentions(re.sub(r"\\\n\s*", " ", block), "README.md (code block)", True)
    for span in re.findall(r"`(lmforge [^`]+)`", re.sub(r"```.*?```", "", readme, flags=re.S)):
        found += _mentions(" ".join(span.split()), "README.md (inline)", None)
    found += _mentions((INFRA / "docker" / "lmforge.Dockerfile").read_text(), "docker/lmforge.Dockerfile", None)
    return found


def _check_command_line(argv: list[str], complete: bool) -> None:
    """Click's own parser on the arguments (unknown options, missing values); then, for command lines, required
    options and every non-path value through its click type. Callbacks are not run: they would make workspaces."""
    from lmforge.flows.commands import COMMANDS

    command: click.Command = {c.name: c for c in COMMANDS}[argv[0]]
    args = argv[1:]
    while isinstance(command, click.Group):
        command, args = command.commands[args[0]], args[1:]
    ctx = click.Context(command, info_name=argv[0])
    opts, extra, _ = command.make_parser(ctx).parse_args(args)
    assert not extra or any(isinstance(p, click.Argument) for p in command.params), f"unexpected arguments {extra}"
    for param in command.params:
        value = opts.get(param.name)
        if complete and param.required and value is None:
            raise AssertionError(f"missing {param.opts[0]}")
        if not complete or value is None or isinstance(param.type, click.Path | click.File):
            continue
        for one in value if isinstance(value, list | tuple) else [value]:
            if isinstance(one, str) and _PLACEHOLDER.match(one):
                continue
            param.type.convert(one, param, ctx)


def test_the_templates_name_lmforge_commands():
    where = {w.split(" ")[0] for w, _, _ in _invocations()}
    assert {"compose.yaml", "README.md", "k8s/train-job.yaml", "slurm/train.sbatch"} <= where
    assert sum(complete for _, _, complete in _invocations()) >= 6


@pytest.mark.parametrize("where, argv, complete", _invocations(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_lmforge_command_line_in_the_templates_parses(where, argv, complete):
    _check_command_line(argv, complete)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--shards", "s", "--num-nodes", "2"],  # a renamed option
        ["train", "--shards", "s", "--nnodes", "0"],  # out of range
        ["train", "--nproc", "4"],  # --shards missing
        ["worker", "--pool"],  # no value
    ],
)
def test_the_command_line_check_catches_mistakes(argv):
    with pytest.raises((click.ClickException, AssertionError)):
        _check_command_line(argv, complete=True)


# -- environment, images and shared state -----------------------------------------------------------------------------
REPO = INFRA.parent


def _code_reads(name: str) -> bool:
    return any(
        name in p.read_text(encoding="utf-8")
        for top in ("flows", "pipeline", "lmforge")
        for p in (REPO / top).rglob("*.py")
    )


def test_every_lmforge_variable_the_templates_set_is_read_by_the_code():
    """The Dockerfile set LMFORGE_REPO, which nothing reads: an edit there changed nothing, silently."""
    text = "\n".join(
        (INFRA / rel).read_text()
        for rel in ("compose.yaml", "k8s/train-job.yaml", "slurm/train.sbatch", "docker/lmforge.Dockerfile")
    )
    names = set(re.findall(r"\b(LMFORGE_[A-Z_]+)\b(?=[=:]|\n\s+value:)", text)) | set(
        re.findall(r"- name: (LMFORGE_[A-Z_]+)", text)
    )
    names |= set(re.findall(r"ENV (LMFORGE_[A-Z_]+)=", text)) | set(re.findall(r"\b(LMFORGE_[A-Z_]+)=", text))
    names -= {"LMFORGE_VENV", "LMFORGE_DATA"}  # the sbatch script's and compose's own knobs, documented in them
    assert names, "no LMFORGE_ variable found: the pattern is stale"
    assert sorted(n for n in names if not _code_reads(n)) == []


def test_multi_node_templates_keep_prefect_home_off_the_shared_workspace():
    """Without PREFECT_API_URL every node starts Prefect's embedded server on PREFECT_HOME, by default
    <workspace>/.prefect: one SQLite database on a shared filesystem written by every node at once."""
    _, job = yaml.safe_load_all((INFRA / "k8s" / "train-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert not env["PREFECT_HOME"].startswith(env["LMFORGE_WORKSPACE"])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert not any(env["PREFECT_HOME"].startswith(m) for m in mounts if m != "/dev/shm")
    sbatch = (INFRA / "slurm" / "train.sbatch").read_text()
    (home,) = re.findall(r"PREFECT_HOME=(\S+)", sbatch)
    assert "SLURM_JOB_ID" in home and "LMFORGE_WORKSPACE" not in home and "$SLURM_NODEID" not in home
    assert "${TMPDIR:-/tmp}/" in home  # node-local: every node has its own


def test_headless_service_resolves_pods_before_they_are_ready():
    """torchrun on pod 1 may look up pod 0 before pod 0 counts as ready; a not-ready pod has no DNS record otherwise."""
    service, _ = yaml.safe_load_all((INFRA / "k8s" / "train-job.yaml").read_text())
    assert service["spec"]["publishNotReadyAddresses"] is True


def _ignored(patterns: list[str], rel: str) -> bool:
    """`.dockerignore` semantics, enough for these patterns: the last matching line wins, `!` re-includes."""
    result = False
    for pattern in patterns:
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!").strip("/")
        parts = rel.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts)))
        if hit:
            result = not negate
    return result


def test_worker_image_copies_the_package_not_the_host_environment():
    """`COPY .` of the repository took the host's .venv, workspace, build/ and compiled .so files into the image."""
    dockerfile = INFRA / "docker" / "lmforge.Dockerfile"
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")  # BuildKit's per-Dockerfile ignore file
    lines = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    for rel in (
        ".venv/bin/python",
        "workspace/corpus/stdlib.jsonl",
        "build/lib/x.py",
        ".git/HEAD",
        "pipeline/curate/_clean.cpython-311-x86_64-linux-gnu.so",
        "lmforge.egg-info/PKG-INFO",
    ):
        assert _ignored(lines, rel), rel
    needed = [
        "setup.py",
        "pyproject.toml",
        "README.md",
        "prefect.yaml",
        "configs/train-tiny.toml",
        "pipeline/corpus/data/multilingual-zh.txt",
        "pipeline/curate/_clean.c",
        "flows/deploy.py",
    ]
    for rel in needed:
        assert (REPO / rel).exists() and not _ignored(lines, rel), rel
    text = dockerfile.read_text()
    assert re.search(r"pip install [^\n]*-e \"\.\[[^\]]*\bdask\b", text)  # the flows' Dask task runner
    assert "gcc" in text  # the C accelerators (20x) are built, not silently skipped


# -- the MLflow server image and the flags compose passes to it --------------------------------------------------------
#: `mlflow server` flags and the first MLflow release that has them (MLflow's docs, "Tracking Server Security":
#: "MLflow 3.5.0+ includes security middleware"); a server older than that exits at start on an unknown flag.
_MLFLOW_SERVER_FLAG_SINCE = {
    "--allowed-hosts": "3.5",
    "--cors-allowed-origins": "3.5",
    "--x-frame-options": "3.5",
    "--disable-security-middleware": "3.5",
}


def _mlflow_image_requirement():
    from packaging.requirements import Requirement

    text = (INFRA / "docker" / "mlflow.Dockerfile").read_text()
    (spec,) = re.findall(r"pip install [^\n]*?\"(mlflow[^\"]*)\"", text)
    return Requirement(spec)


def _compose_mlflow_flags() -> list[str]:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    command = compose["services"]["mlflow"]["command"]
    assert command[:2] == ["mlflow", "server"], command
    return [arg.split("=", 1)[0] for arg in command[2:] if arg.startswith("--")]


def test_mlflow_image_is_new_enough_for_every_flag_compose_passes_its_server():
    """compose.yaml passes `--allowed-hosts=*` (the worker reaches the server as `mlflow:5000`, a host name the
    security middleware refuses by default), a flag of MLflow 3.5; the image allowed `mlflow>=3.1`, whose server
    stops at start with "No such option: --allowed-hosts"."""
    from packaging.version import Version

    requirement = _mlflow_image_requirement()
    lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    assert lows, f"{requirement}: no lower bound"
    flags = _compose_mlflow_flags()
    assert "--allowed-hosts" in flags
    for flag in flags:
        since = _MLFLOW_SERVER_FLAG_SINCE.get(flag)
        if since:
            assert max(lows) >= Version(since), f"{flag} needs mlflow>={since}; the image allows {requirement}"


def test_every_flag_compose_passes_mlflow_server_is_one_it_has():
    """Checked against the installed MLflow's own click command (the version this checkout is tested with)."""
    from packaging.version import Version

    mlflow = pytest.importorskip("mlflow")
    from mlflow.cli import cli as mlflow_cli

    requirement = _mlflow_image_requirement()
    assert requirement.specifier.contains(Version(mlflow.__version__)), (requirement, mlflow.__version__)
    known = {opt for param in mlflow_cli.commands["server"].params for opt in param.opts}
    assert sorted(set(_compose_mlflow_flags()) - known) == []
