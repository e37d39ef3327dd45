# tokenbill: one image for the API, the worker and the migrate step (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY tokenbill ./tokenbill
COPY domain ./domain
COPY services ./services
COPY api ./api
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY db ./db
COPY web ./web
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tokenbill

USER tokenbill

EXPOSE 3000
CMD ["tokenbill", "api"]
