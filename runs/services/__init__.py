"""Run services, one module per job. Import from the module you need:

- `ids`: the job_run_ids (scheduled, manual, retry) and the occurrence key they share;
- `create`: building a new run (both write paths) and inserting one idempotently;
- `lifecycle`: queued -> running -> final (`run_finish`, the one place a run ends), the
  plane's answers, and the automatic retry;
- `overlap`: the one overlap rule, for firing and run-now;
- `manual`: what a person does (run now, retry);
- `backfill`: running the occurrences of a past range that never got a run;
- `queries`: the reads the API and pages share.
"""
