# cookiecutter-kubernetes-digitalocean: bake, test and benchmark the template.
# `make demo` and `make test` each set up what they need (virtualenv, pip, apt).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
OUT := out
CLUSTER := $(OUT)/do-cluster
# Debian packages: what the demo's rehearsal needs (etcd, curl and iproute2 for the real
# Kubernetes 1.1.2 control plane in a network namespace; graphviz for the diagram), and what
# the real-program tests add (containernetworking-plugins: the CNI plugins a current node runs).
DEMO_PACKAGES := jq openssl curl iproute2 etcd-server graphviz
TEST_PACKAGES := $(DEMO_PACKAGES) etcd-client systemd containernetworking-plugins

.PHONY: help venv demo try test bench lint clean

# The profile a bake gets unless told (the first of cookiecutter.json's profile choices), and
# the others; read when make help shows them.
PROFILES = $(shell python3 -c 'import json; print(*json.load(open("cookiecutter.json"))["profile"])')
DEFAULT_PROFILE = $(firstword $(PROFILES))
OTHER_PROFILES = $(subst $(eval) ,|,$(wordlist 2,$(words $(PROFILES)),$(PROFILES)))

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' Makefile | \
	  sed 's/DEFAULT_PROFILE/$(DEFAULT_PROFILE)/g; s/OTHER_PROFILES/$(OTHER_PROFILES)/g' | \
	  awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

# Python 3.11 or newer, and its venv module: a fresh Ubuntu lacks python3-venv (ensurepip), and
# `python3 -m venv` then fails with a half-made .venv; say which package to install instead.
$(BIN)/.installed: pyproject.toml
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "ERROR: $$(python3 --version 2>&1) found; the template needs Python 3.11 or newer" >&2; exit 1; }
	@python3 -m venv $(VENV) >$(VENV).log 2>&1 || { cat $(VENV).log >&2; rm -rf $(VENV) $(VENV).log; \
	  echo "ERROR: python3 -m venv could not make $(VENV) (no venv/ensurepip module);" \
	    "on Debian/Ubuntu: sudo apt-get install python3-venv, then run make again" >&2; exit 1; }
	@rm -f $(VENV).log
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed ## Create .venv with the template's Python requirements

# Another apt run (unattended-upgrades, a second make) may hold apt's locks: wait up to 120 s
# rather than fail. apt-get install waits on the dpkg lock with DPkg::Lock::Timeout; apt 2.6's
# update ignores it for the lists lock (tried: it fails at once), so update is retried.
APT_LOCK_WAIT := -o DPkg::Lock::Timeout=120
APT_UPDATE_TRIES := 60
APT_RETRY_SECONDS := 2

# apt-get only what is missing; kubectl from kubernetes-client only where no kubectl exists
# (it conflicts with the kubectl package some machines already have).
define install_debian
	missing=(); \
	for pkg in $(1); do dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$$pkg"); done; \
	if [[ "$(2)" == kubectl ]] && ! command -v kubectl >/dev/null; then missing+=(kubernetes-client); fi; \
	if (( $${#missing[@]} )); then \
	  sudo=""; if (( EUID != 0 )); then sudo=sudo; fi; \
	  echo "Installing Debian packages: $${missing[*]}"; \
	  for ((try = 1; ; try++)); do \
	    $$sudo apt-get $(APT_LOCK_WAIT) update -qq && break; \
	    ((try < $(APT_UPDATE_TRIES))) || exit 1; \
	    echo "apt-get update failed (another apt run holding its lock?); retrying in $(APT_RETRY_SECONDS) s"; \
	    sleep $(APT_RETRY_SECONDS); \
	  done; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get $(APT_LOCK_WAIT) install -y -qq "$${missing[@]}" >/dev/null; \
	fi
endef

# PROFILE=tutorial make demo: the same with another profile than the default.
PROFILE ?=

demo: venv ## Bake the default profile (DEFAULT_PROFILE) into ./out (a failed bake leaves it as it was), show it, rehearse the apply offline (PROFILE=OTHER_PROFILES: that profile)
	@$(call install_debian,$(DEMO_PACKAGES),)
	rm -rf $(OUT).new
	$(BIN)/cookiecutter --no-input -o $(OUT).new . $(if $(PROFILE),profile=$(PROFILE))
	rm -rf $(OUT) && mv $(OUT).new $(OUT)
	@echo; echo "== Generated cluster repo: $(CLUSTER)"; (cd $(CLUSTER) && find . -type f ! -path './pki/*' | sort | sed 's|^\./|  |')
	@if [[ -f tests/rehearse.sh ]]; then PATH="$(CURDIR)/$(BIN):$$PATH" bash tests/rehearse.sh $(CLUSTER); fi
	@$(MAKE) -C $(CLUSTER) --no-print-directory diagram
	@echo; echo "== Try next: the cluster repo's targets against the same stand-ins (nothing leaves this machine)"
	@if jq -e '.droplets == {}' $(CLUSTER)/state/rehearsal/account.json >/dev/null 2>&1; then \
	  echo "  make try RUN='make etcd controller worker addons'   (the rehearsal ended with make destroy)"; fi; \
	  echo "  make try RUN='make status'           make try RUN='make plan'"; \
	  echo "  make try RUN='make diagram'          make try RUN='make destroy FORCE=1'"; \
	  echo "  make try                             (a shell in $(CLUSTER) with the stand-ins on PATH)"

# make try RUN='make status': a target of the demo's cluster repo against the stand-ins and the
# simulated account its rehearsal left (tests/rehearse.sh --try); without RUN, a shell there.
# RUN reaches the script through the environment, quoted, whatever characters it holds.
RUN ?=
export RUN
try: venv ## After make demo: RUN='make status' (plan, diagram, destroy...) in ./out/do-cluster against the same stand-ins
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash tests/rehearse.sh --try $(CLUSTER) "$$RUN"

# pytest-xdist workers: auto = one per core; TEST_JOBS=0 runs the suite serially in one process.
# --dist loadscope keeps each module (and its module-scoped fixtures) on one worker.
TEST_JOBS ?= auto

test: venv ## Run the whole test suite, one worker per core (TEST_JOBS=0: serially)
	@$(call install_debian,$(TEST_PACKAGES),kubectl)
	$(BIN)/ruff check generator tests
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadscope

# Every benchmark runs and prints its figures; the target fails at the end if any missed.
BENCHES ?= tests.bench.bake tests.bench.audit tests.bench.apply

bench: venv ## Bake time, audit time, apply time and API rate against the stand-in
	@$(call install_debian,$(DEMO_PACKAGES),)
	$(BIN)/python -m tests.bench $(BENCHES)

lint: venv ## ruff on Python, shellcheck on the shell the template ships
	$(BIN)/ruff check generator tests
	$(BIN)/shellcheck -x .ci/run tests/rehearse.sh tests/lintbin/shellcheck tests/standins/bin/* \
	  tests/fake_kubectl/kubectl tests/fake_kubectl/curl tests/fake_kubectl_current/*

clean: ## Remove the virtualenv and baked output
	rm -rf $(VENV) $(OUT) $(OUT).new
