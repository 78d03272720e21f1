# gilfree in a container: a build stage compiles the wheel, a slim runtime stage installs only that
# wheel and its runtime dependencies (numpy, tqdm) and runs the lab as a non-root user, and a
# `test` stage runs the suite against the installed wheel from outside the source tree.
#
#   docker build -t gilfree .                        # the runtime image
#   docker run --rm --shm-size=1g gilfree            # the eight lab steps
#   docker run --rm --shm-size=2g gilfree python -m gilfree bench --out /tmp/bench
#   docker build --target test -t gilfree-test .     # the test image
#   docker run --rm --shm-size=1g gilfree-test       # the suite
#
# /dev/shm: Docker gives a container 64 MB of it unless --shm-size says otherwise, and gilfree's
# shared-memory strategies keep their arrays there: at default sizes the lab's step 7 puts 128 MB
# and step 8 160 MB in it (the whole lab ran in 512 MB), the bench more. With the default 64 MB
# the lab stops at step 8 with an OSError (ENOSPC) that names --shm-size. Hence --shm-size above.
#
# The build steps are the commands CI runs outside Docker (`python -m build --wheel` with
# GILFREE_REQUIRE_EXTENSIONS=1, then `pip install` of that wheel into a fresh environment and
# the suite from a folder that holds no source), so a green CI says these steps work too.
# hadolint checks this file in CI (.ci/lint).

# One Python for all stages: the wheel built below is tagged for it (cp312). A version tag, not
# latest: the 3.12 line on Debian 12.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: the compiler and the build front end, gone from the images below ----------------
FROM ${PYTHON_IMAGE} AS build

# gcc and the C library headers for the Cython kernels, their apt versions not pinned (hadolint's
# DL3008, ignored here and only here), on purpose: Debian drops a package version from its
# archive when a point release or security update replaces it, so a pinned `gcc=<version>` stops
# building within months, while the base image tag above already fixes the Debian release
# (bookworm) and with it the compiler series. The compiler never reaches the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# The build front end, pinned; it fetches the build requirements of pyproject.toml (setuptools,
# Cython) into an isolated environment of its own. A layer of its own, so source edits reuse it.
RUN python -m pip install build==1.6.1

WORKDIR /src
# What the build reads, and nothing else: the tests, bench results and docs can change without
# rebuilding the wheel.
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY ext/ ext/
COPY src/ src/
# GILFREE_REQUIRE_EXTENSIONS=1: fail here rather than ship a pure-Python wheel. The build
# itself compiles release kernels without debug information (setup.py adds -g0), the same
# command as CI's and the wheel builders'.
RUN GILFREE_REQUIRE_EXTENSIONS=1 python -m build --wheel --outdir /dist . \
    && ls -l /dist

# ---- runtime: the wheel and its runtime dependencies, a non-root user, the lab by default ------
FROM ${PYTHON_IMAGE} AS runtime

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1

# The wheel from the build stage, installed from its file (pip resolves numpy and tqdm from its
# metadata); the check makes the image fail to build if the compiled kernels do not load.
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m pip install /dist/gilfree-*.whl \
    && python -c "import gilfree, sys; print('gilfree', gilfree.__version__, gilfree.IMPLEMENTATION); sys.exit(gilfree.IMPLEMENTATION != 'c-extension')"

# A user of our own, by number in USER so that any runtime (Kubernetes' runAsNonRoot too) can
# tell it is not root.
RUN groupadd --gid 10001 gilfree \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin gilfree
USER 10001:10001
WORKDIR /home/gilfree
CMD ["python", "-m", "gilfree", "lab"]

# ---- test: the runtime image plus the test extras and the suite, run as the same user --------
FROM runtime AS test

USER 0:0
# The test extras of the same wheel (pytest, hypothesis, joblib, matplotlib, mypy), named as a
# direct reference to the wheel file so pip takes gilfree from it and the extras from its metadata.
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    printf 'gilfree[test] @ file://%s\n' /dist/gilfree-*.whl >/tmp/requirements-test.txt \
    && python -m pip install --requirement /tmp/requirements-test.txt \
    && rm /tmp/requirements-test.txt \
    && install -d -o gilfree -g gilfree /home/gilfree/suite
USER 10001:10001
# The suite and its pytest settings (pyproject.toml), in a folder with no source: the installed
# wheel is what the tests import. Tests that need the rest of the checkout skip and say so.
WORKDIR /home/gilfree/suite
COPY --chown=10001:10001 pyproject.toml ./
COPY --chown=10001:10001 tests/ tests/
ENV MPLBACKEND=Agg
CMD ["python", "-m", "pytest", "-q"]
