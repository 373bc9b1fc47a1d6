# LVMAE reproduction suite. `make reproduce` and `make test` each work as the first command on a
# fresh clone: every target that needs the environment runs `setup` first.
PROFILE ?= smoke
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TABLES := acceptance acceptance-long 1 1-finetune 2 3 4a 4b 4c 4d 4e 5 6 7 8 9 10 11
FIGURES := 1 3 4

.PHONY: setup test test-all reproduce report $(addprefix reproduce-table-,$(TABLES)) \
        $(addprefix reproduce-figure-,$(FIGURES)) bench bench-device clean-runs

setup: $(STAMP)

# Re-installs only when the pinned dependencies change; otherwise `make setup` is instant.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

# One test worker per core; a test module stays on one worker (its fixtures are built once).
test: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test-all: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "slow or not slow"

# Every table and figure, then the report: at the smoke profile dealt to two worker processes (its short
# runs leave a core idle in one), elsewhere in one process, so that a table's compute is measured alone.
JOBS ?= $(if $(filter smoke,$(PROFILE)),2,1)
reproduce: setup
	$(BIN)/lvmae reproduce $(TABLES) $(addprefix figure,$(FIGURES)) --profile $(PROFILE) --jobs $(JOBS)

# One explicit target per table and figure (make skips pattern rules for .PHONY targets).
define table_rule
reproduce-table-$(1): setup
	$$(BIN)/lvmae reproduce $(1) --profile $$(PROFILE)
endef
define figure_rule
reproduce-figure-$(1): setup
	$$(BIN)/lvmae reproduce figure$(1) --profile $$(PROFILE)
endef
$(foreach t,$(TABLES),$(eval $(call table_rule,$(t))))
$(foreach f,$(FIGURES),$(eval $(call figure_rule,$(f))))

report: setup
	$(BIN)/lvmae report

# Benchmarks after warm-up at the smoke and cpu profiles (or PROFILE=...), then the peer section (one
# process per configuration) and where ViT-B 128 frames' step goes (parts); writes results/bench.json.
bench: setup
	$(foreach p,$(if $(filter command line,$(origin PROFILE)),$(PROFILE),smoke cpu),$(BIN)/lvmae bench --profile $(p) &&) true
	$(BIN)/lvmae bench --sections peer parts

# The accelerator check: ViT-B pre-training steps at 16, 32 and 128 frames (tiny shapes on a CPU).
# On an NVIDIA machine it installs the `gpu` extra first if JAX does not see the GPU.
bench-device: setup
	@if command -v nvidia-smi >/dev/null 2>&1 && ! $(BIN)/python -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" 2>/dev/null; \
	  then $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[gpu]'; fi
	$(BIN)/lvmae bench --sections device

clean-runs:
	rm -rf results/runs
