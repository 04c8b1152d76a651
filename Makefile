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
# tests/e2e/test_dns.py waits for the pod network's gateway address with `ip`.
APT_PACKAGES += iproute2
# The provisioning test reads the certificate every TLS port serves with `openssl s_client`.
APT_PACKAGES += openssl
# bench/dns.py measures `kubeling dns` next to dnsmasq.
APT_PACKAGES += dnsmasq-base
# The kubelet mounts nfs volumes with mount.nfs (nfs-common); the NFS test serves its export from a test node
# container (images/node has nfs-kernel-server) and is skipped, saying why, on a kernel without NFS.
APT_PACKAGES += nfs-common
# tests/e2e/test_live_view.py opens the live view in headless Chromium through selenium and chromedriver, and in
# headless Firefox through WebDriver BiDi (tests/support/bidi.py).
APT_PACKAGES += chromium chromium-driver firefox-esr
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
# `make up` provisions machines with Ansible: Vagrant VMs when vagrant is installed, else systemd containers.
PROVIDER ?= $(if $(shell command -v vagrant 2>/dev/null),vagrant,docker)
# TOPOLOGY=ha (Docker provider): three masters with stacked etcd behind a virtual address, and two workers.
TOPOLOGY ?= plain

.PHONY: help deps system-deps venv kubectl-1.20 images lint test unit e2e bench up down clean
.PHONY: provision-venv dev-up dev-down test-vagrant test-molecule test-provisioning test-ha test-faults

help:
	@echo "make up      provision a cluster: etcd, a master, two workers (PROVIDER=docker|vagrant, default $(PROVIDER))"
	@echo "make down    destroy it"
	@echo "make up PROVIDER=docker TOPOLOGY=ha  three masters (stacked etcd) behind a virtual address, two workers"
	@echo "make dev-up  start only a local control plane on 127.0.0.1 (dev-down stops it)"
	@echo "make test-provisioning  make up + day-2 playbooks + every Molecule scenario (also in make test)"
	@echo "make test-ha  the HA cluster: its topology and failover, then the fault battery (also in make test)"
	@echo "make test-faults  the fault battery alone (tests/ha/test_faults.py)"
	@echo "make test-molecule  the Molecule scenario of a whole cluster; make test-vagrant  make up on libvirt VMs"
	@echo "make test    install what is needed, lint, and run every test"
	@echo "make lint    ruff"
	@echo "make bench   run the benchmarks in bench/"

deps: system-deps venv kubectl-1.20

# Debian packages, installed only when missing and only when we are root (a user runs `sudo make deps` otherwise).
# tests/e2e/test_client_compat.py runs the JavaScript client (@kubernetes/client-node, from npm) on Node: Debian's
# nodejs and npm, unless some npm is there already (a Node from elsewhere must not be replaced).
system-deps:
	@extra=""; command -v npm >/dev/null || extra="nodejs npm"; \
	missing=""; for p in $(APT_PACKAGES) $$extra; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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
	$(VENV)/bin/mypy
	PYTHONPATH=agents $(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/yamllint --strict .
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/ansible-lint --profile production

lint: provision-venv

# Ansible, its linters and Molecule (pyproject's `provision` extra), for `make up`, `make lint` and the tests.
provision-venv: $(VENV)/.provision-installed

$(VENV)/.provision-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,provision]'
	touch $@

unit: venv
	$(VENV)/bin/pytest tests/unit -q

# A running Docker engine and the images pods run (built locally from busybox-static: no registry needed).
images: system-deps
	scripts/ensure-docker.sh
	scripts/build-images.sh

test: deps lint images
	$(VENV)/bin/pytest tests -q --durations=30

bench: deps
	$(PY) bench/api.py

# The cluster: the same playbook (playbooks/site.yml) on containers or VMs. Prints where admin.conf is.
up: deps provision-venv images
	VENV=$(VENV) TOPOLOGY=$(TOPOLOGY) scripts/$(PROVIDER)-cluster.sh up

down:
	@VENV=$(VENV) TOPOLOGY=$(TOPOLOGY) scripts/$(PROVIDER)-cluster.sh down

# Only a control plane (etcd and the API server, plain HTTP on 127.0.0.1), for quick work on the API server.
dev-up: deps
	$(PY) -m kubeling.devcluster up

dev-down:
	@test -x $(PY) && $(PY) -m kubeling.devcluster down || true

# Only the provisioning tests (part of `make test` too): `make up PROVIDER=docker` end to end with the day-2
# playbooks, and every Molecule scenario.
test-provisioning: deps provision-venv images
	$(VENV)/bin/pytest tests/e2e/test_provisioning.py tests/e2e/test_molecule.py -q

# The HA cluster's tests (part of `make test` too): tests/ha brings `make up PROVIDER=docker TOPOLOGY=ha` up once
# for the package, runs the fault battery and the topology's failover, and removes the cluster at the end.
test-ha: deps provision-venv images
	$(VENV)/bin/pytest tests/ha -q

test-faults: deps provision-venv images
	$(VENV)/bin/pytest tests/ha/test_faults.py -q

# Molecule's scenario of a whole cluster (etcd, a master, two workers) alone; every scenario: test-provisioning.
test-molecule: deps provision-venv images
	PATH=$(abspath $(VENV))/bin:$$PATH molecule test --scenario-name cluster

# `make up` on libvirt VMs (software emulation, slow: not part of `make test`), then the smoke suite.
test-vagrant: deps provision-venv images
	VENV=$(VENV) scripts/vagrant-cluster.sh test

clean:
	rm -rf $(VENV) $(CACHE) .pytest_cache
