# eggemo: `make demo` runs the main job, `make test` runs the tests.
# Both set up everything on a fresh Debian machine: the ARM toolchain and QEMU
# (apt, when running as root) and a virtual environment with the pip packages.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,train,export,host,flash,lsl
STAMP  := $(VENV)/.installed
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
PYTEST_ARGS ?=

.PHONY: demo test sysdeps venv firmware bench clean

demo: sysdeps $(STAMP)
	$(BIN)/eggemo demo

test: sysdeps $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark prints its own table; the firmware and host ones stream 10 minutes of EGG.
bench: sysdeps $(STAMP)
	set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

firmware: sysdeps
	$(MAKE) -C firmware BOARD=qemu

# Debian packages for the firmware and its emulator. Installed only when missing,
# and only as root; otherwise say what to install.
sysdeps:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null || missing="$$missing gcc-arm-none-eabi libnewlib-arm-none-eabi"; \
	[ -e /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -e /usr/lib/arm-none-eabi/lib/libc.a ] || missing="$$missing libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || missing="$$missing qemu-system-arm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "== installing Debian packages:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PKGS); \
	  else \
	    echo "!! missing:$$missing -- run: sudo apt-get install $(APT_PKGS)"; \
	  fi; \
	fi

venv: $(STAMP)

# Re-install when the package definition or the C sources change.
$(STAMP): pyproject.toml setup.py eggemo/_cbuild.py $(wildcard csrc/*.c csrc/*.h)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

clean:
	rm -rf build build-* *.egg-info eggemo/_emo*.so eggemo/_emo.c
	-$(MAKE) -C firmware clean
