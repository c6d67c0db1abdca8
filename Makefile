# The two commands: `make demo` and `make test`. Both install what they need first.
.PHONY: demo test test-scale bench bench-quick lint stop install portal clean

UV := uv

install:
	@bash scripts/bootstrap.sh

portal: install
	$(UV) run ntm portal up

demo: portal
	$(UV) run ntm run --dropzone samples/dropzone
	@echo
	@echo "Portal:   http://127.0.0.1:5000/dataset"
	@echo "API:      http://127.0.0.1:5000/api/3/action/package_search"
	@echo "Stop it:  make stop"

# Every test: the suite, then the scale tests (marked `scale`: Iceberg, Celery, Spark), which also run alone.
test: install
	$(UV) run pytest -m "not scale"
	$(MAKE) test-scale

test-scale: install
	$(UV) run pytest -m scale

# Benchmarks (the local portal is started first): each figure beside its baseline, in benchmarks/RESULTS.md.
bench: portal
	$(UV) run python benchmarks/run.py

bench-quick: portal
	$(UV) run python benchmarks/run.py --quick

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

stop:
	$(UV) run ntm portal down

clean: stop
	rm -rf data samples/dropzone/*/_reports
