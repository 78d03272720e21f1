# gilfree in a container: the same two commands as the README, on a slim CPython image.
#   docker build -t gilfree .
#   docker run --rm gilfree                      # the eight lab steps
#   docker run --rm gilfree python -m pytest     # the test suite
#   docker run --rm --shm-size=2g gilfree python -m gilfree bench --out /tmp/bench
#                                                # the strategy matrix; its large arrays live in
#                                                # /dev/shm, which Docker caps at 64 MB by default
FROM python:3.12-slim

# A C compiler for the Cython kernels (pip fetches Cython and setuptools for the build).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/gilfree
COPY . .
RUN python -m pip install --no-cache-dir ".[test]" \
    && python -c "import gilfree, sys; sys.exit(gilfree.IMPLEMENTATION != 'c-extension')"

CMD ["python", "-m", "gilfree", "lab"]
