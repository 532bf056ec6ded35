# syntax=docker/dockerfile:1
# One image for every Atriz service and for the migrate job (see docker-compose.yml):
#   docker build -t atriz .
#   docker run --rm atriz serve core        # `atriz serve NAME`, granian, as in production
#   docker run --rm atriz keys rotate       # any other `atriz` command
#   docker run --rm --entrypoint db-migrate atriz all
#
# Two stages: `build` installs the locked libraries and the workspace's own packages into a
# virtualenv with uv; `runtime` is a slim Python with that virtualenv and nothing else (no uv,
# no compiler, no sources: the packages are installed as wheels, migrations and seeds inside).

# The Python that the build machines and CI test with (3.11 is the floor of every member). Both
# stages must use the same one: the virtualenv points at this interpreter's path.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# uv's official image, pinned to the version that wrote uv.lock.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# Compiled bytecode: workers start without compiling every module first. Copies, not hard
# links: the cache is a mount that the runtime stage never sees. The base image's Python, never
# one uv downloads.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/atriz/venv
WORKDIR /src

# The libraries first, from the lock and every workspace member's pyproject.toml alone, so that
# a change to our code reuses this layer. A new member under packages/ or apps/ adds its line
# here (packages/core/tests/test_deployment_files.py checks that none is missing).
COPY uv.lock pyproject.toml ./
COPY packages/database/pyproject.toml packages/database/
COPY packages/core/pyproject.toml packages/core/
COPY apps/website/pyproject.toml apps/website/
COPY apps/mextrack/pyproject.toml apps/mextrack/
COPY apps/pshop/pyproject.toml apps/pshop/
# --locked: fail if uv.lock is out of date rather than resolve anew. --no-dev: none of the
# root's dev group (pytest, mypy, ...). --all-packages: the root is virtual (no project of its
# own), so without it only the dev group, which --no-dev drops, would be installed.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --all-packages --no-install-workspace

# Then the members themselves, as wheels (--no-editable): the virtualenv stands alone.
COPY packages/ packages/
COPY apps/ apps/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --all-packages --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# A system user without a shell or a home of its own: the services never run as root.
RUN groupadd --system --gid 10001 atriz \
    && useradd --system --uid 10001 --gid atriz --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin atriz \
    && install --directory --owner=atriz --group=atriz --mode=0700 /var/lib/atriz/keys
# Owned by root and read-only to the services: they cannot change their own code.
COPY --from=build /opt/atriz/venv /opt/atriz/venv
# ATRIZ_HOST: in a container the services must listen beyond the loopback address; which
# ports are published, and where, is the compose file's decision. ATRIZ_ENV: an image is for
# deployment, so production unless told otherwise (nothing generated, secrets required).
# CORE_SIGNING_KEY_DIR: the folder made above, meant to be a volume (`atriz keys rotate`).
ENV PATH=/opt/atriz/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ATRIZ_ENV=production \
    ATRIZ_HOST=0.0.0.0 \
    CORE_SIGNING_KEY_DIR=/var/lib/atriz/keys
WORKDIR /srv/atriz
USER atriz:atriz
ENTRYPOINT ["atriz"]
CMD ["--help"]
