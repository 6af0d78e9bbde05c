# One image for the collector, the assessor and the simulator; docker-compose.yml picks the
# program with `command:`. Build: docker compose build (or docker build -t factorylens .).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# fonts-nanum: the assessor's PDF reports embed Nanum Gothic; without it Hangul renders as
# empty boxes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-nanum \
    && rm -rf /var/lib/apt/lists/*

# Runtime dependencies only: the edge install plus the assessor's and the simulator's
# extras (no [test], no [demo]; docs/deployment.md). Sources are copied explicitly so that a
# stray local file (a .env, a spool, a virtualenv) can never end up in the image.
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY datacontract ./datacontract
COPY configkit ./configkit
COPY collector ./collector
COPY assessor ./assessor
COPY simulator ./simulator
RUN pip install '.[assessor,simulator]' \
    && rm -rf /src

# A fixed non-root uid, and the state directories owned by it: Docker copies their owner
# into a named volume when it is first mounted there.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/factorylens \
        --shell /usr/sbin/nologin factorylens \
    && mkdir -p /var/lib/factorylens/collector /var/lib/factorylens/assessor /etc/factorylens \
    && chown -R factorylens:factorylens /var/lib/factorylens

USER factorylens
WORKDIR /var/lib/factorylens

# assessor API, collector metrics/healthz; the simulator uses 5020-5023 in the demo profile
EXPOSE 8080 9273

CMD ["collector", "--help"]
