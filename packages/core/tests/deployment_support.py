"""What the deployment files' tests share: the Dockerfile's stages, the workspace's members and
commands, starting a service as its container would (without a container engine), and the
scripts that make the database logins.

`test_deployment_files.py` checks docker-compose.yml and the Dockerfile with these,
`test_kubernetes_manifests.py` the manifests under deploy/k8s. Both start each service the way
its container starts it: the `atriz` command of the image's ENTRYPOINT runs with the
container's arguments, in the environment the container would have, up to the moment it would
exec granian; then the app is built from the factory granian would call, in the environment
granian would get. The process environment is replaced by one that records every name the code
looks up, so that a test can tell a variable that is set but never read.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar

from atriz_database.cli import atriz as atriz_cli
from atriz_database.cli.atriz import main as atriz_main
from atriz_database.services import ServiceSpec

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"

# Variables of the image that the interpreter reads, not our code.
INTERPRETER_VARIABLES = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}

T = TypeVar("T")


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for instruction, rest in self.instructions if instruction == keyword]

    def environment(self) -> dict[str, str]:
        values = {}
        for rest in self.all("ENV"):
            for word in shlex.split(rest):
                name, equals, value = word.partition("=")
                assert equals, f"ENV {rest!r}: write NAME=value"
                values[name] = value
        return values


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuations joined, comments
    dropped, global ARG defaults substituted into FROM)."""
    text = DOCKERFILE.read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), " ".join(rest.split())
        if instruction == "ARG" and not stages:
            argument, _, default = rest.partition("=")
            arguments[argument] = default
        elif instruction == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: arguments[m[1] or m[2]], words[0])
            stages.append(Stage(image, words[2] if len(words) == 3 else None))
        else:
            assert stages, f"{instruction} before the first FROM"
            stages[-1].instructions.append((instruction, rest))
    return stages


def runtime_stage() -> Stage:
    return dockerfile_stages()[-1]


def exec_form(rest: str) -> list[str]:
    value = yaml.safe_load(rest)  # a JSON array is YAML
    assert isinstance(value, list), f"{rest!r}: use the exec form, a JSON array"
    return [str(item) for item in value]


# --- the workspace --------------------------------------------------------------------------


def workspace_members() -> list[Path]:
    """The folder of every workspace member, from the root pyproject.toml's globs."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [path.parent for path in sorted(ROOT.glob(f"{pattern}/pyproject.toml"))]
    return members


def member_project(member: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    return project


def console_scripts() -> set[str]:
    """The commands that installing the workspace puts on PATH."""
    return {
        name for member in workspace_members() for name in member_project(member).get("scripts", {})
    }


# --- starting a service without a container engine ------------------------------------------


class RecordingEnviron(dict[str, str]):
    """A process environment that remembers every name the code looks up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


class Exec(BaseException):
    """`os.execve` reached: the process would now become the server."""

    def __init__(self, path: str, argv: list[str], environ: Mapping[str, str]) -> None:
        super().__init__(path)
        self.argv = argv
        self.environ = dict(environ)


@dataclass
class Started:
    command: list[str]
    """granian's command line, as `atriz serve` would exec it."""
    app: Litestar
    read: set[str]
    """Every variable that `atriz serve` and the app's factory looked up."""


def run_as(environment: Mapping[str, str], body: Callable[[], T]) -> tuple[T, set[str]]:
    """Run `body` with `environment` as the whole process environment, from a working directory
    that, like the image's, has no `.env` or `uv.lock` above it; its result and the names it
    read."""
    recording = RecordingEnviron(environment)
    with tempfile.TemporaryDirectory() as workdir, pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setattr(os, "environ", recording)
        result = body()
    return result, recording.read


def atriz(argv: list[str]) -> int:
    """The image's ENTRYPOINT with `argv`; its exit status."""
    with pytest.raises(SystemExit) as exited:
        atriz_main(argv)
    return int(exited.value.code or 0)


def start_service(spec: ServiceSpec, argv: list[str], environment: Mapping[str, str]) -> Started:
    """Run `atriz ARGV` in `environment` up to the exec of granian, then build the app as a
    granian worker would, from `spec.app_factory`, in the environment granian was given."""

    def execve(path: str, argv: list[str], environ: Mapping[str, str]) -> None:
        raise Exec(path, argv, environ)

    def serve() -> Exec:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "execve", execve)
            # The container binds in a network of its own: a port taken on this machine (by
            # `atriz dev`, say) does not stop it.
            patch.setattr(atriz_cli, "port_in_use", lambda host, port: False)
            with pytest.raises(Exec) as exec_:
                atriz_main(argv)
        return exec_.value

    server, read_by_serve = run_as(environment, serve)
    module, _, function = spec.app_factory.partition(":")
    factory = getattr(importlib.import_module(module), function)
    app, read_by_app = run_as(server.environ, factory)
    assert isinstance(app, Litestar)
    return Started(server.argv, app, read_by_serve | read_by_app)


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


# --- the apps' reader logins on atriz_shared ------------------------------------------------


def service_login_passwords(script: str) -> dict[str, str]:
    """The logins that service-logins.sql makes, each with the environment variable its
    password is read from."""
    psql_variables = dict(re.findall(r"^\\getenv (\w+) (\w+)$", script, re.M))
    return {
        login: psql_variables[variable]
        for login, variable in re.findall(
            r"^ALTER ROLE (\w+) LOGIN [^;]*PASSWORD :'(\w+)';", script, re.M
        )
    }


def reader_login_passwords(script: str) -> dict[str, str]:
    """The logins that a reader-logins psql script makes, each with the environment variable
    its password is read from; each must be created if missing, granted atriz_app_reader and
    given the idle-in-transaction limit."""
    psql_variables = dict(re.findall(r"^\\getenv (\w+) (\w+)$", script, re.M))
    created = re.search(r"ARRAY\[([^\]]*)\]", script)
    assert created is not None, "no list of logins to create"
    passwords = {}
    for login in re.findall(r"'(\w+)'", created[1]):
        assert re.search(rf"GRANT atriz_app_reader TO [^;]*\b{login}\b", script), login
        set_password = re.search(rf"ALTER ROLE {login} LOGIN [^;]*PASSWORD :'(\w+)';", script)
        assert set_password is not None, f"{login}: no password set"
        assert f"ALTER ROLE {login} SET idle_in_transaction_session_timeout" in script, login
        passwords[login] = psql_variables[set_password[1]]
    return passwords
