# One place for the everyday commands. `make test` is what CI runs (see .ci/run).
.PHONY: test lint format bench bench-quick migration

test:
	./.ci/run

lint:
	python -m ruff check src tests bench
	python -m ruff format --check src tests bench
	python -m mypy
	lint-imports

format:
	python -m ruff format src tests bench
	python -m ruff check --fix src tests bench

bench:
	python -m bench --markdown-out docs/bench-latest.md

bench-quick:
	python -m bench --quick

# After changing a model: make migration MESSAGE="add labels"
migration:
	python -c "from alembic import command; from dockyard.db.migrate import alembic_config; \
	command.revision(alembic_config('sqlite+aiosqlite:////tmp/dockyard-migration.db'), \
	message='$(MESSAGE)', autogenerate=True)"
