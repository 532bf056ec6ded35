"""docker-compose.yml and the Dockerfile, checked against the code's own entry points and settings.

No Docker engine runs on the build machines, so nothing here builds an image or starts a
container. Instead each service is started the way its container starts it, minus Docker
(`deployment_support.start_service`): the `atriz` command of the image's ENTRYPOINT runs with
the compose file's `command`, in the environment the container would have (the Dockerfile's ENV,
then the service's `environment` with the compose variables given test values), up to the moment
it would exec granian; then the app is built from the factory granian would call. The process
environment records every name the code looks up, so that:

- every registered service (`atriz.services`) has a compose service that serves it, on the port
  it listens on, with a health check on that port's `/health`, after the migrate job;
- every variable the compose file sets is one that the code reads (no misspelt or stale name);
- the environment is complete enough for each service to start in production (the settings
  check every value there), and the documented bootstrap, `keys rotate`, works in it too;
- the migrate job covers every registered database target, on the compose PostgreSQL.

Building an app opens no database connection (the pools open in the lifespan), so none is
needed here. Services are taken from what is registered: an app is covered once its entry
point lands, and an app registered without a compose service fails
`test_every_registered_service_is_served_by_compose`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar

from atriz_core.kit.service import app_service
from atriz_core.kit.settings import AppSettings, Env, app_fields
from atriz_database.cli.common import run_command, selected_targets
from atriz_database.services import ServiceSpec, default_host, default_workers, load_services
from atriz_database.targets import ALL, DatabaseTarget, TargetRegistry
from atriz_database.urls import database_url

# Relative: pytest imports test modules by path (`--import-mode=importlib`), not from sys.path.
from .deployment_support import (
    INTERPRETER_VARIABLES,
    ROOT,
    Started,
    atriz,
    console_scripts,
    dockerfile_stages,
    exec_form,
    member_project,
    option,
    reader_login_passwords,
    run_as,
    runtime_stage,
    service_login_passwords,
    start_service,
    workspace_members,
)

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"

MIGRATE = "migrate"
LOGINS = "logins"
ATRIZ_IMAGE_BUILD = "."

# What an operator puts in the env file: every variable the compose file marks `:?` (required)
# gets a value here, in the form production accepts. Fixed values, generated once, so that a
# failure is reproducible (a fresh random one could read as a placeholder by chance).
REQUIRED_VALUES = {
    "PGPASSWORD": "V44OeL47semvf6AtDvIKUDwbpvvH_sX3v1HeniS_WUc",
    "CORE_PUBLIC_URL": "https://auth.atriz.test",
    "CORE_SMTP_HOST": "smtp.atriz.test",
    "CORE_MAIL_FROM": "Atriz <no-reply@atriz.test>",
    "ATRIZ_CURSOR_SECRET": "A34-cC0hxkdNvyY1iUdHVL_X-HruSkapGbir4ZbuBRU",
    "WEBSITE_READER_PASSWORD": "dLv_9UYJ9aTL2A2Wb7bh0Az8Nn1v9vJ_C_lcwwcnIZk",
    "MEXTRACK_READER_PASSWORD": "3qY1wOuK3R54zZzfO4CJL4rVA_FICjK58D1eA8EwJWk",
    "PSHOP_READER_PASSWORD": "16TOWrq9pq4DiftNogdLgnSoG_VA6chZmLxnCC8qh_Y",
    "CORE_DATABASE_PASSWORD": "Lr5Kq0Xv8Wn3Tz6Bm1Hc9Js4Pd7Gf2Ye-Ua_Ni0Oc",
    "WEBSITE_DATABASE_PASSWORD": "Hd8Qm2Zr6Xw0Vt4Ns1Kj9Bc5Lp3Fg7Ye-Ua_Oi2Tx",
    "MEXTRACK_DATABASE_PASSWORD": "Wc3Jn7Rk1Ty5Gz9Pb2Mx6Vq0Hs4Ld8Fe-Ua_Oi5Nu",
    "PSHOP_DATABASE_PASSWORD": "Ks6Ty0Pz4Wn8Rb2Hc5Md9Qv1Xj3Lg7Fe-Ua_Oi8Ra",
    "MIGRATION_STATUS_PASSWORD": "Bn4Xq8Lv2Rt6Zs0Hk3Pj7Wc1Md5Gy9Fe-Ua_Oi1Se",
    "WEBSITE_PUBLIC_URL": "https://www.atriz.test",
    "MEXTRACK_PUBLIC_URL": "https://fleet.atriz.test",
    "PSHOP_PUBLIC_URL": "https://shop.atriz.test",
    "WEBSITE_OIDC_CLIENT_SECRET": "Zq0c2N1m7rX9yH4kL8pW3vB6tF5dS1aG0jQ2eR7uI9o",
    "MEXTRACK_OIDC_CLIENT_SECRET": "Hw5nK2pL9qR3tY7uB1vC4xZ8mN6jD0fG2sA5eT9kQ3w",
    "PSHOP_OIDC_CLIENT_SECRET": "Pm8vX2cR5tN9wQ1yL4kB7hJ3fD6sG0aZ2eU5iO8rT1n",
}
# Every variable the compose file takes from outside with a default (`:-`), set as well.
OPTIONAL_VALUES = {
    "PGPORT": "55432",
    "ATRIZ_WORKERS": "2",
    "ATRIZ_METRICS_TOKEN": "s8X1TjxkQ4r9kFQE7JU4wTG6TMogl2yDnkRYupz8tas",
    "CORE_SMTP_PORT": "587",
    "CORE_SMTP_USERNAME": "atriz",
    "CORE_SMTP_PASSWORD": "3qY1wOuK3R54zZzfO4CJL4rVA_FICjK58D1eA8EwJWk",
    "CORE_SMTP_STARTTLS": "true",
    "CORE_SMTP_TLS": "false",
    "CORE_TRUSTED_PROXIES": "172.16.0.0/12",
}
# The operator's env file with the required variables only, and with every one set.
OUTER_ENVIRONMENTS = {
    "required-only": REQUIRED_VALUES,
    "all-set": {**REQUIRED_VALUES, **OPTIONAL_VALUES},
}


# --- docker-compose.yml ---------------------------------------------------------------------

_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.DOTALL)


class MissingVariableError(Exception):
    """What `docker compose` refuses to start with: a required variable without a value."""


@dataclass
class Interpolation:
    """Compose's variable substitution over the parsed file, recording what it met."""

    outer: Mapping[str, str]
    required: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {key: self.value(item) for key, item in node.items()}
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if isinstance(node, str):
            return _REFERENCE.sub(self._substitute, node)
        return node

    def _substitute(self, match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["bare"]:
            self.optional.add(match["bare"])
            return self.outer.get(match["bare"], "")
        braced = _BRACED.fullmatch(match["braced"])
        assert braced is not None, f"compose cannot read ${{{match['braced']}}}"
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        value = self.outer.get(name)
        empty = value is None or (op is not None and op.startswith(":") and value == "")
        if op in {":?", "?"}:
            self.required.add(name)
            if empty:
                raise MissingVariableError(f"required variable {name} is missing a value: {arg}")
            return str(value)
        self.optional.add(name)
        if op in {":-", "-"} and empty:
            return str(arg)
        return value or ""


def load_compose(outer: Mapping[str, str]) -> tuple[dict[str, Any], Interpolation]:
    """docker-compose.yml as compose sees it with `outer` as the operator's environment:
    anchors and merge keys resolved, then every value interpolated."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    interpolation = Interpolation(outer)
    return interpolation.value(raw), interpolation


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, as a mapping (it may be written as a list)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    assert all(value is not None for value in environment.values()), (
        "a variable without a value is passed from the compose host's environment: give it"
        " one in the file, ${VAR:?...} if it is required"
    )
    return {name: str(value) for name, value in environment.items()}


def is_atriz_image(service: Mapping[str, Any]) -> bool:
    """Whether a compose service runs the image built from this repository's Dockerfile."""
    build = service.get("build")
    if isinstance(build, dict):
        return build.get("context") == ATRIZ_IMAGE_BUILD and build.get("dockerfile") in {
            None,
            "Dockerfile",
        }
    return build == ATRIZ_IMAGE_BUILD


def depends_on(service: Mapping[str, Any], other: str) -> str | None:
    """The condition `service` waits for on `other`, or None if it does not wait for it."""
    dependencies = service.get("depends_on") or {}
    if isinstance(dependencies, list):
        return "service_started" if other in dependencies else None
    if other not in dependencies:
        return None
    return str((dependencies[other] or {}).get("condition", "service_started"))


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each of `service`'s short-syntax ports."""
    published = []
    for entry in service.get("ports") or []:
        assert isinstance(entry, str), f"ports entry {entry!r}: use the short syntax"
        parts = entry.split("/")[0].rsplit(":", 2)
        assert len(parts) == 3, f"ports entry {entry!r}: publish on an address, HOST:PORT:PORT"
        published.append((parts[0], int(parts[1]), int(parts[2])))
    return published


def health_check_url(service: Mapping[str, Any]) -> str | None:
    test = (service.get("healthcheck") or {}).get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    found = re.search(r"https?://[^\s'\"]+", text)
    return found[0] if found else None


# --- a compose service's container ---------------------------------------------------


@dataclass
class Container:
    """A compose service as it would run: where its volumes are, and its environment."""

    name: str
    service: dict[str, Any]
    compose_environment: dict[str, str]
    environment: dict[str, str]
    volumes: dict[str, Path]
    """Each volume's path inside the container, and the folder standing in for it here."""


def container(
    compose: Mapping[str, Any], name: str, tmp_path: Path, *, image_environment: bool = True
) -> Container:
    """The environment of `name`'s container: the image's ENV, then the service's own, with
    each volume's path inside the container replaced by a fresh folder under `tmp_path`."""
    service = compose["services"][name]
    own = environment_of(service)
    environment = {**(runtime_stage().environment() if image_environment else {}), **own}
    environment.pop("PATH", None)
    volumes = {}
    for entry in service.get("volumes") or []:
        source, target = entry.split(":")[:2]
        assert not source.startswith((".", "/")), f"{name}: {entry}: use a named volume"
        volumes[target] = tmp_path / name / source
        volumes[target].mkdir(parents=True)
    for variable, value in environment.items():
        for target, folder in volumes.items():
            if value == target or value.startswith(f"{target}/"):
                environment[variable] = str(folder) + value[len(target) :]
    return Container(name, service, own, environment, volumes)


def start_compose_service(spec: ServiceSpec, running: Container) -> Started:
    """`spec` started as its compose service's container would start it."""
    command = running.service.get("command")
    assert isinstance(command, list), f"{running.name}: write command as a list"
    return start_service(spec, [str(word) for word in command], running.environment)


def problems_serving(spec: ServiceSpec, compose: Mapping[str, Any]) -> list[str]:
    """What is wrong with how docker-compose.yml serves `spec`, judged from the file alone."""
    service = compose["services"].get(spec.name)
    if service is None:
        return [f"no compose service named {spec.name!r} serves it"]
    problems = []
    if not is_atriz_image(service):
        problems.append(f"{spec.name}: not built from the Dockerfile (build: .)")
    if "entrypoint" in service:
        problems.append(f"{spec.name}: overrides the image's entrypoint, `atriz`")
    if service.get("command") != ["serve", spec.name]:
        problems.append(f"{spec.name}: command is not ['serve', {spec.name!r}]")
    if depends_on(service, MIGRATE) != "service_completed_successfully":
        problems.append(f"{spec.name}: does not wait for the migrate job to succeed")
    if environment_of(service).get("ATRIZ_ENV") != "production":
        problems.append(f"{spec.name}: ATRIZ_ENV is not production")
    return problems


def pending_apps(compose: Mapping[str, Any]) -> set[str]:
    """Compose services of workspace members that register no service yet (an app being
    written): those are checked against the kit until their entry point lands."""
    unregistered = {
        member.name
        for member in workspace_members()
        if "atriz.services" not in member_project(member).get("entry-points", {})
    }
    return {name for name in compose["services"] if name in unregistered}


# --- the tests ------------------------------------------------------------------------------

REGISTERED = load_services()


def test_the_operator_variables_are_the_ones_given_test_values() -> None:
    _, interpolation = load_compose(OUTER_ENVIRONMENTS["all-set"])

    assert interpolation.required == set(REQUIRED_VALUES), "a `:?` variable needs a test value"
    assert interpolation.optional == set(OPTIONAL_VALUES), "a `:-` variable needs a test value"


@pytest.mark.parametrize("missing", sorted(REQUIRED_VALUES))
def test_compose_refuses_to_start_without_a_required_variable(missing: str) -> None:
    outer = {name: value for name, value in REQUIRED_VALUES.items() if name != missing}

    with pytest.raises(MissingVariableError, match=missing):
        load_compose(outer)


def test_every_compose_variable_is_documented_in_env_example() -> None:
    _, interpolation = load_compose(OUTER_ENVIRONMENTS["all-set"])
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))

    assert (interpolation.required | interpolation.optional) - documented == set()


def test_every_registered_service_is_served_by_compose() -> None:
    compose, _ = load_compose(REQUIRED_VALUES)

    assert REGISTERED, "no service is registered: is the workspace installed?"
    assert [
        problem for spec in REGISTERED.values() for problem in problems_serving(spec, compose)
    ] == []


def test_a_service_missing_from_compose_is_caught() -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    inventory = ServiceSpec("inventory", "atriz_inventory.app:create_app_from_env", "X_PORT", 8009)

    assert problems_serving(inventory, compose) == [
        "no compose service named 'inventory' serves it"
    ]


def test_every_compose_service_of_the_image_is_registered_or_an_app_still_to_land() -> None:
    """A compose service of a workspace app whose entry point has not landed yet is allowed (it
    is checked in full once it has); any other unregistered one is a stale or misspelt name."""
    compose, _ = load_compose(REQUIRED_VALUES)
    served = {
        name
        for name, service in compose["services"].items()
        if is_atriz_image(service) and name != MIGRATE
    }

    assert served - set(REGISTERED) - pending_apps(compose) == set()


@pytest.mark.parametrize("outer", sorted(OUTER_ENVIRONMENTS))
@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_service_starts_in_production_from_the_compose_environment(
    name: str,
    outer: str,
    tmp_path: Path,
) -> None:
    spec = REGISTERED[name]
    compose, _ = load_compose(OUTER_ENVIRONMENTS[outer])
    running = container(compose, name, tmp_path)
    read: set[str] = set()
    if name == "core":
        # The documented bootstrap: `docker compose run --rm --no-deps core keys rotate`.
        status, read = run_as(running.environment, lambda: atriz(["keys", "rotate"]))
        assert status == 0

    started = start_compose_service(spec, running)
    read |= started.read

    port = int(option(started.command, "--port"))
    assert option(started.command, "--factory") == spec.app_factory
    assert option(started.command, "--host") == "0.0.0.0"  # noqa: S104 - inside the container
    assert port == spec.default_port
    assert [
        (host, published)
        for host, published, inner in published_ports(running.service)
        if inner == port
    ] == [("127.0.0.1", port)]
    assert health_check_url(running.service) == f"http://127.0.0.1:{port}/health"
    assert set(running.compose_environment) - read == set(), "set, but never read"


def test_apps_still_to_land_get_what_the_kit_requires_in_production(tmp_path: Path) -> None:
    """Until an app registers its service, its compose environment is checked against the
    kit's part of every app's settings (`app_fields`, production's requirements included) and
    an app built by `app_service`; once it has, the test above checks it whole."""
    compose, _ = load_compose(REQUIRED_VALUES)
    for name in sorted(pending_apps(compose)):
        running = container(compose, name, tmp_path)
        prefixes = [
            variable.removesuffix("_SHARED_DATABASE_URL")
            for variable in running.compose_environment
            if variable.endswith("_SHARED_DATABASE_URL")
        ]
        assert len(prefixes) == 1, f"{name}: no <PREFIX>_SHARED_DATABASE_URL (its reader login)"
        ports = {inner for _, _, inner in published_ports(running.service)}
        assert len(ports) == 1, f"{name}: publish its one port"
        prefix, port = prefixes[0], ports.pop()
        stand_in = DatabaseTarget(
            name=name,
            database=f"{name}_db",
            url_env=f"{prefix}_DATABASE_URL",
            migrations=tmp_path,
            seeds=tmp_path,
        )

        def build(
            name: str = name,
            prefix: str = prefix,
            port: int = port,
            target: DatabaseTarget = stand_in,
        ) -> Litestar:
            # What `atriz serve NAME` reads before it execs granian, then the kit's settings.
            default_host(), default_workers()
            fields = app_fields(
                Env(), prefix=prefix, service=name, target=target, default_port=port
            )
            return app_service(AppSettings(**fields), route_handlers=[])

        app, read = run_as(running.environment, build)

        assert isinstance(app, Litestar)
        assert health_check_url(running.service) == f"http://127.0.0.1:{port}/health"
        assert set(running.compose_environment) - read == set(), f"{name}: set, never read"


@pytest.mark.parametrize("name", sorted(REGISTERED))
async def test_the_health_check_path_answers_on_the_app_as_built(name: str, tmp_path: Path) -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    running = container(compose, name, tmp_path)
    if name == "core":
        run_as(running.environment, lambda: atriz(["keys", "rotate"]))
    started = start_compose_service(REGISTERED[name], running)
    path = urlsplit(health_check_url(running.service) or "").path

    # No lifespan: /health needs no database, which is what makes it a liveness check.
    transport = httpx.ASGITransport(app=started.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get(path)

    assert response.status_code == 200, response.text


def test_core_keeps_its_signing_keys_in_a_volume(tmp_path: Path) -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    running = container(compose, "core", tmp_path)
    key_folder = Path(running.environment["CORE_SIGNING_KEY_DIR"])

    assert any(key_folder.is_relative_to(folder) for folder in running.volumes.values())


def test_the_image_environment_is_read_by_the_services(tmp_path: Path) -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    read: set[str] = set()
    for name, spec in REGISTERED.items():
        running = container(compose, name, tmp_path)
        if name == "core":
            read |= run_as(running.environment, lambda: atriz(["keys", "rotate"]))[1]
        read |= start_compose_service(spec, running).read

    assert set(runtime_stage().environment()) - INTERPRETER_VARIABLES - read == set()


def test_the_migrate_job_creates_and_migrates_every_target_on_the_compose_postgres(
    tmp_path: Path,
) -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    job = compose["services"][MIGRATE]
    running = container(compose, MIGRATE, tmp_path)
    registry = TargetRegistry.from_entry_points()

    assert is_atriz_image(job)
    assert job.get("restart") == "no"
    assert depends_on(job, "postgres") == "service_healthy"
    assert job["entrypoint"][:2] == ["sh", "-c"]
    assert "command" not in job
    steps = [shlex.split(step) for step in job["entrypoint"][2].split("&&")]
    assert steps == [["db-create", ALL], ["db-migrate", ALL]]
    assert {program for program, _ in steps} <= console_scripts()
    assert {target.name for target in registry.select(ALL)} == set(registry.names)

    found: dict[str, str] = {}

    def resolve_urls() -> int:
        """What `db-create all` and `db-migrate all` do before they connect: the commands'
        wrapper (`.env`, ATRIZ_ENV), then the URL of every selected target."""

        def body() -> int:
            found.update({target.name: database_url(target) for target in selected_targets(ALL)})
            return 0

        with pytest.raises(SystemExit) as exited:
            run_command("db-migrate", body)
        return int(exited.value.code or 0)

    status, read = run_as(running.environment, resolve_urls)
    assert status == 0
    for target in registry.select(ALL):
        url = urlsplit(found[target.name])
        assert (url.hostname, url.port, unquote(url.path)) == (
            "postgres",
            5432,
            f"/{target.database}",
        )
        assert unquote(url.password or "") == REQUIRED_VALUES["PGPASSWORD"]
    assert set(running.compose_environment) - read == set(), "set, but never read"
    assert "postgres" in compose["services"]
    assert running.compose_environment["PGHOST"] == "postgres"


def test_postgres_keeps_its_data_in_a_volume_and_reports_health() -> None:
    compose, _ = load_compose(REQUIRED_VALUES)
    postgres = compose["services"]["postgres"]

    assert postgres["healthcheck"]["test"]
    assert any(entry.split(":")[0] in compose["volumes"] for entry in postgres.get("volumes", []))
    assert postgres["environment"]["POSTGRES_PASSWORD"] == REQUIRED_VALUES["PGPASSWORD"]


def logins_scripts(job: Mapping[str, Any]) -> dict[str, str]:
    """The psql scripts the logins job runs, in order, by name: read from the folder of the
    checkout that the job mounts."""
    mounts = dict(entry.split(":")[1::-1] for entry in job["volumes"])
    scripts = {}
    for word in job["command"]:
        if word.startswith("--file="):
            path = Path(word.removeprefix("--file="))
            source = mounts[str(path.parent)]
            assert source.startswith("./"), "a folder of the checkout"
            scripts[path.name] = (ROOT / source / path.name).read_text()
    return scripts


def test_every_app_login_on_atriz_shared_is_made_by_the_logins_job() -> None:
    """Each `<PREFIX>_SHARED_DATABASE_URL` names a login that the logins job creates in
    atriz_app_reader, with the password in that URL and the idle-in-transaction limit."""
    compose, _ = load_compose(REQUIRED_VALUES)
    job = compose["services"][LOGINS]
    job_environment = environment_of(job)
    passwords = reader_login_passwords(logins_scripts(job)["reader-logins.sql"])
    shared_database = TargetRegistry.from_entry_points().get("core").database

    assert depends_on(job, MIGRATE) == "service_completed_successfully"
    assert job["entrypoint"] == ["psql"]
    logins = {}
    for service in compose["services"].values():
        for variable, value in environment_of(service).items():
            if not variable.endswith("_SHARED_DATABASE_URL"):
                continue
            url = urlsplit(value)
            assert (url.hostname, url.path) == ("postgres", f"/{shared_database}")
            assert depends_on(service, LOGINS) == "service_completed_successfully"
            logins[url.username] = unquote(url.password or "")
    assert logins, "no app reads atriz_shared through a reader login"
    assert set(logins) == set(passwords)
    for login, password in logins.items():
        assert job_environment[passwords[login]] == password


def test_every_service_reaches_its_database_through_its_own_login() -> None:
    """Never the superuser: each service's own database URL names a login that the logins job
    makes (deploy/k8s/base/service-logins.sql, tested in test_service_logins.py) with the
    password in that URL, and only the jobs that need it hold the superuser's password."""
    compose, _ = load_compose(REQUIRED_VALUES)
    job = compose["services"][LOGINS]
    job_environment = environment_of(job)
    scripts = logins_scripts(job)
    passwords = service_login_passwords(scripts["service-logins.sql"])
    registry = TargetRegistry.from_entry_points()
    holders = {
        name
        for name, service in compose["services"].items()
        if "PGPASSWORD" in environment_of(service) or "POSTGRES_PASSWORD" in environment_of(service)
    }

    assert list(scripts) == ["reader-logins.sql", "service-logins.sql"]
    assert holders == {"postgres", MIGRATE, LOGINS}
    for name in REGISTERED:
        target = registry.get(name)
        service = compose["services"][name]
        url = urlsplit(environment_of(service)[target.url_env])
        login = unquote(url.username or "")
        assert login in passwords, f"{name}: {login} is made by no script"
        assert job_environment[passwords[login]] == unquote(url.password or "")
        assert (url.hostname, url.path) == ("postgres", f"/{target.database}")
        assert depends_on(service, LOGINS) == "service_completed_successfully"


def test_the_dockerfile_builds_from_the_lock_in_stages() -> None:
    stages = dockerfile_stages()
    runtime = stages[-1]
    syncing = [stage for stage in stages if any("uv sync" in r for r in stage.all("RUN"))]

    assert len(syncing) == 1, "one stage installs"
    assert syncing[0] is not runtime, "the runtime stage has no uv, and installs nothing"
    build = syncing[0]
    assert build.image == runtime.image, "the virtualenv needs the same Python path at run time"
    version = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", runtime.image)
    assert version is not None
    assert int(version[1]) >= 11
    uv_images = [stage.image for stage in stages if stage.image.startswith("ghcr.io/astral-sh/uv")]
    assert all(re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", image) for image in uv_images)

    syncs = [
        shlex.split(r[r.index("uv sync") :].split("&&")[0])
        for r in build.all("RUN")
        if "uv sync" in r
    ]
    for sync in syncs:
        assert {"--locked", "--no-dev", "--all-packages"} <= set(sync), sync
        assert not {"--dev", "--all-groups", "--group", "--only-dev", "--frozen"} & set(sync)
    assert "--no-editable" in syncs[-1]

    # The lock and every member's pyproject.toml are in place before the first sync.
    copied_before_sync = []
    for instruction, rest in build.instructions:
        if instruction == "RUN" and "uv sync" in rest:
            break
        if instruction == "COPY":
            copied_before_sync += rest.split()[:-1]
    members = {str(member.relative_to(ROOT) / "pyproject.toml") for member in workspace_members()}
    assert {"uv.lock", "pyproject.toml"} | members <= set(copied_before_sync)


def test_the_runtime_stage_holds_only_the_virtualenv_and_runs_atriz_as_a_user() -> None:
    runtime = runtime_stage()
    users = runtime.all("USER")

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert all(rest.startswith("--from=") for rest in runtime.all("COPY")), "sources copied"
    assert not runtime.all("ADD")
    assert runtime.environment()["ATRIZ_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert runtime.environment()["ATRIZ_ENV"] == "production"
    entrypoint = exec_form(runtime.all("ENTRYPOINT")[-1])
    assert entrypoint == ["atriz"]
    assert "atriz" in console_scripts()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    patterns = {
        line.strip().removeprefix("**/").rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".env", ".atriz", ".venv", ".git", "*.pem"} <= patterns
