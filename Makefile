# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := experts_service:create_app

.PHONY: demo test venv serve clean-db lint

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flask init
	$(BIN)/flask demo
	$(BIN)/flask search reindex
	@echo ""
	@echo "演示地址：http://127.0.0.1:5000  （Ctrl+C 停止）"
	$(BIN)/flask run --host 127.0.0.1 --port 5000

serve: $(STAMP)
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest

clean-db:
	rm -f instance/experts.sqlite3 instance/experts.sqlite3-wal instance/experts.sqlite3-shm
