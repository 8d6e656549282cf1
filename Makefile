# The two commands a newcomer runs: `make run` and `make test`. See README.md.

.PHONY: run serve test bench bench-herd faults loadtest venv migrate seed check clean

run:            ## virtualenv, migrate SQLite, seed the demo, start web server + scheduler
	@bash scripts/run.sh

serve:          ## production-like: DEBUG off, gunicorn + WhiteNoise + one scheduler (docs/deploy.md)
	@bash scripts/serve.sh

test:           ## everything the tests need, then the whole suite (PostgreSQL + SQLite)
	@bash scripts/test.sh

bench:          ## benchmarks on a throwaway PostgreSQL, printing figures beside baselines
	@bash scripts/bench.sh

bench-herd:     ## the 09:00 herd: 10,000 due among 1,000,000 (1 and 1,000 orgs, 1 and 2 replicas), bursts to 20,000
	@BENCH_HERD=1 bash scripts/bench.sh tests/bench/bench_lag.py

faults:         ## the fault suite in full (every plane-connection fault, 3 planes), printing its table
	@bash scripts/faults.sh

loadtest:       ## gunicorn + PostgreSQL + scheduler + plane under 8/32/64 users (LOAD_SHORT=1: a quick check)
	@bash scripts/loadtest.sh

venv:
	@bash -c 'source scripts/lib.sh && ensure_venv'

migrate: venv
	@.venv/bin/python manage.py migrate

seed: migrate
	@.venv/bin/python manage.py seed_demo

check: venv
	@.venv/bin/python manage.py check && .venv/bin/python manage.py makemigrations --check --dry-run

clean:
	rm -rf .venv db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
