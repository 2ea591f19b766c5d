# EBM Lab: `make lab` serves the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU/CUDA wheel of torch that pip picks for this machine; override with TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
PORT ?= 5006
ADDRESS ?= localhost
# Host names browsers may use to reach the lab (its WebSocket origin); set it when ADDRESS is not localhost.
ORIGIN ?= localhost:$(PORT)
# Optional password (or a JSON file of users and passwords) for Panel's basic authentication.
BASIC_AUTH ?=
COOKIE_SECRET ?= $(shell $(PYTHON) -c "import secrets; print(secrets.token_hex(32))")

.PHONY: lab test chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install "$(TORCH_SPEC)" || $(BIN)/pip install torch
	$(BIN)/pip install -e ".[test]"
	touch $@

lab: $(VENV)/.installed
	$(BIN)/panel serve app/main.py --setup app/warm_up.py --address $(ADDRESS) --port $(PORT) --allow-websocket-origin $(ORIGIN) \
		$(if $(BASIC_AUTH),--basic-auth $(BASIC_AUTH) --cookie-secret $(COOKIE_SECRET)) --show

test: chromium $(VENV)/.installed
	$(BIN)/python -m pytest -q

# The browser tests' Chromium: installed with apt-get when missing and run as root, else one line says how.
chromium:
	@tools/ensure-chromium.sh

# Each benchmark prints ratios against a baseline measured in the same run (results: bench/RESULTS.md);
# a benchmark exits non-zero when a goal is missed, so the others still run.
bench: $(VENV)/.installed
	$(BIN)/pip install -e ".[bench]"
	-$(BIN)/python bench/train_2d.py
	-$(BIN)/python bench/samplers.py
	-$(BIN)/python bench/compiled.py
	-$(BIN)/python bench/first_draws.py
	-$(BIN)/python bench/rbm.py
	-nice -n 10 $(BIN)/python bench/images.py
	-$(BIN)/python bench/score.py
	-$(BIN)/python bench/ood.py
	-$(BIN)/python bench/app_latency.py
	-$(BIN)/python bench/many_sessions.py
	-$(BIN)/python bench/soak.py --minutes 30

clean:
	rm -rf $(VENV) .pytest_cache
