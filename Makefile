# The two commands: `make demo` and `make test`. Both install what they need first.
.PHONY: demo test lint stop install portal clean

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

test: install
	$(UV) run pytest

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

stop:
	$(UV) run ntm portal down

clean: stop
	rm -rf data samples/dropzone/*/_reports
