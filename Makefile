# kubeling: `make up` brings a cluster up, `make test` runs every test (installing what it needs first).
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
CACHE := .cache
KUBECTL_120 := $(CACHE)/kubectl-1.20/usr/bin/kubectl
APT_PACKAGES := etcd-server etcd-client
# The test-node image (images/node/build.sh) is debootstrapped; the proxy and pod network program iptables.
APT_PACKAGES += debootstrap iptables docker.io busybox-static
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help deps system-deps venv kubectl-1.20 images lint test unit e2e bench up down clean

help:
	@echo "make up      start a cluster (local control plane on 127.0.0.1 for now)"
	@echo "make down    stop it"
	@echo "make test    install what is needed, lint, and run every test"
	@echo "make lint    ruff"
	@echo "make bench   run the benchmarks in bench/"

deps: system-deps venv kubectl-1.20

# Debian packages, installed only when missing and only when we are root (a user runs `sudo make deps` otherwise).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$(IS_ROOT)" = yes ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (run: sudo make deps)"; exit 1; fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# kubectl 1.20 from Debian's kubernetes-client, unpacked beside the tree so it does not replace /usr/bin/kubectl.
kubectl-1.20: $(KUBECTL_120)

$(KUBECTL_120):
	mkdir -p $(CACHE)/deb
	cd $(CACHE)/deb && (apt-get download kubernetes-client || (apt-get update -qq && apt-get download kubernetes-client))
	dpkg-deb -x $(CACHE)/deb/kubernetes-client_*.deb $(CACHE)/kubectl-1.20
	test -x $@

lint: venv
	$(VENV)/bin/ruff check agents tests bench

unit: venv
	$(VENV)/bin/pytest tests/unit -q

# A running Docker engine and the images pods run (built locally from busybox-static: no registry needed).
images: system-deps
	scripts/ensure-docker.sh
	scripts/build-images.sh

test: deps lint images
	$(VENV)/bin/pytest tests -q

bench: deps
	$(PY) bench/api.py

up: deps
	$(PY) -m kubeling.devcluster up

down:
	@test -x $(PY) && $(PY) -m kubeling.devcluster down || true

clean:
	rm -rf $(VENV) $(CACHE) .pytest_cache
