# Quick start: `make run` (set up, open the GUI) and `make test` (set up, run the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The venv module, and the runtime libraries Qt (glib, libGL, xcb) and Mesa OpenGL need on a
# bare Debian.
GUI_PACKAGES := python3-venv libglib2.0-0 libgl1 libgl1-mesa-dri libegl1 libglx-mesa0 libxkbcommon-x11-0 libxcb-cursor0 \
	libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
	libxcb-render-util0 libxcb-image0 libfontconfig1 libdbus-1-3
# Headless X server for the GL tests, and RELION to pin our conventions to the real tool.
TEST_PACKAGES := xvfb xauth xdotool relion
XVFB := xvfb-run -a -s "-screen 0 1600x1000x24"

.PHONY: run test bench deps-gui deps-test venv clean

run: deps-gui venv
	$(BIN)/python main.py

test: deps-gui deps-test venv
	$(BIN)/lint-imports --no-cache
	$(XVFB) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Speed figures (the GUI ones need the virtual X server); BENCH_ARGS=--paper makes the simulation
# bench run the paper's 3,000,000 particles instead (50 GB of disk).
bench: deps-gui deps-test venv
	for b in bench/bench_*.py; do \
		case $$b in *simulate*) extra="$(BENCH_ARGS)";; *) extra="";; esac; \
		echo "== $$b $$extra"; $(XVFB) $(BIN)/python $$b $$extra || exit 1; \
	done

deps-gui:
	@$(call apt_install,$(GUI_PACKAGES))

deps-test:
	@$(call apt_install,$(TEST_PACKAGES))

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache

# Install only the Debian packages that are missing, so repeated runs cost nothing.
define apt_install
missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
	echo "Installing Debian packages:" $$missing; \
	$(SUDO) apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef
