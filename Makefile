# The two commands a newcomer runs: `make run` and `make test`. See README.md.
.PHONY: run test bench venv migrate seed check clean

run:            ## virtualenv, migrate SQLite, seed the demo, start web server + scheduler
	@bash scripts/run.sh

test:           ## everything the tests need, then the whole suite (PostgreSQL + SQLite)
	@bash scripts/test.sh

bench:          ## benchmarks on a throwaway PostgreSQL, printing figures beside baselines
	@bash scripts/bench.sh

venv:
	@bash -c 'source scripts/lib.sh && ensure_venv'

# Local targets, like `make run`: DEBUG defaults to true, so the built-in SECRET_KEY is
# allowed (with DEBUG off the system checks refuse it). `DEBUG=false make check` checks
# production settings.
LOCAL = DEBUG=$${DEBUG:-true}

migrate: venv
	@$(LOCAL) .venv/bin/python manage.py migrate

seed: migrate
	@$(LOCAL) .venv/bin/python manage.py seed_demo

check: venv
	@$(LOCAL) .venv/bin/python manage.py check && $(LOCAL) .venv/bin/python manage.py makemigrations --check --dry-run

clean:
	rm -rf .venv db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
