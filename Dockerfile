# The image deploy/kubernetes/ runs (registry.example.com/agent-schedules:<version>):
#   docker build -t registry.example.com/agent-schedules:1.0.0 .
# Its one build step is scripts/install.sh, the script a systemd host runs (docs/deploy.md):
# the same virtualenv in the same folder, /opt/agent-schedules/.venv, first on PATH, so the
# manifests' `python manage.py ...` and `gunicorn ...` are the units' ExecStart commands.
# Checked against the manifests and the units by tests/test_dockerfile.py (and hadolint).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/agent-schedules/.venv/bin:$PATH

# The user the manifests run as (runAsUser: 10001). It owns nothing in the image: the code,
# the virtualenv and the collected static files are read-only to it.
RUN groupadd --system --gid 10001 agent-schedules \
    && useradd --system --no-log-init --uid 10001 --gid agent-schedules \
       --home-dir /opt/agent-schedules --no-create-home agent-schedules

WORKDIR /opt/agent-schedules
COPY . .
RUN bash scripts/install.sh

USER 10001
# gunicorn.conf.py binds $HOST:$PORT, 0.0.0.0:8000 by default (GUNICORN_BIND overrides).
EXPOSE 8000
# The web process; the scheduler, the migrate Job and the health CronJob set their own command.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"]
