# Plateau: `make run` and `make test` do their whole set-up on a fresh Debian machine (as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
APT_UPDATED := var/.apt-updated
VENDOR := web/static/vendor

.PHONY: run test test-unit test-db test-asterisk test-browser bench mutation lint fmt setup system-deps migrate clean capture docs-screenshots

$(APT_UPDATED):
	@mkdir -p var
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq; fi
	@touch $@

# System packages the tests need: python venv support, PostgreSQL binaries (for a throwaway cluster).
system-deps: $(APT_UPDATED)
	@command -v $(PYTHON) >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
	@# Integration tier and `make run`: Asterisk 16 (bullseye's package), SIPp and baresip (a real softphone).
	@bash asterisk-conf/install.sh
	@command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
	@# Browser tier: Debian's Chromium (Playwright cannot download its own browsers here).
	@test -x /usr/bin/chromium || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
	@# sox: campaign sounds are converted to what Asterisk plays (app/campaign_sounds.py), and the recordings'
	@# integration tests measure the files with it.
	@dpkg -s libsox-fmt-mp3 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sox libsox-fmt-mp3

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(PIP) install -q -e '.[test]'
	@touch $@

setup: system-deps $(VENV)/.installed $(VENDOR)/jssip.min.js
	@# the project's bytecode, written once: with PYTHONDONTWRITEBYTECODE set (as on CI) every `plateau`
	@# process would compile it again at start (the tiers and benches start hundreds of them)
	@$(BIN)/python -m compileall -q -j 0 app cti dialer core bench tests >/dev/null

# Front-end libraries from npm, pinned by package-lock.json: JsSIP (the desk's browser phone), bundled into
# one classic script by esbuild (JsSIP ships CommonJS), served from web/static/vendor/ with its licence.
$(VENDOR)/jssip.min.js: package.json package-lock.json
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(VENDOR)
	node_modules/.bin/esbuild node_modules/jssip/lib/JsSIP.js --bundle --format=iife --global-name=JsSIP \
		--platform=browser --minify --log-level=warning --outfile=$@
	cp node_modules/jssip/LICENSE.md $(VENDOR)/jssip.LICENSE.md

migrate: setup
	$(BIN)/plateau migrate

run: setup
	$(BIN)/plateau migrate
	PLATEAU_CPU_NICE=$${PLATEAU_CPU_NICE:--5} $(BIN)/plateau serve --with-pbx

lint: setup
	$(BIN)/ruff check .
	@# the layers (docs/architecture.md): core < cti < dialer < app, contracts in pyproject.toml
	$(BIN)/lint-imports --no-cache

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The live tiers (real Asterisk, SIPp, Chromium, killed servers, on fixed ports: one at a time) mostly wait on
# their peers, the others mostly compute: `make test` runs the two sets side by side, one per core, the
# computing set niced so that it never starves the live set's timing. Both logs are printed; either failing
# fails the target.
LIVE_TIERS := asterisk or browser or faults or hostile or cluster
test: setup lint
	@mkdir -p var
	@nice -n 10 $(BIN)/pytest -q -p no:cacheprovider --durations=15 -m "not ($(LIVE_TIERS))" \
		> var/test-compute.log 2>&1 & compute=$$!; \
	echo "# live tiers ($(LIVE_TIERS)); the other tiers run meanwhile, their log follows"; \
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 -m "$(LIVE_TIERS)"; live=$$?; \
	wait $$compute; other=$$?; \
	echo "# the other tiers (unit, database, API, dialer simulations)"; cat var/test-compute.log; \
	echo "# live tiers: exit $$live; other tiers: exit $$other"; \
	exit $$(( live != 0 || other != 0 ))

test-unit: setup
	$(BIN)/pytest -q -m "not db and not asterisk and not browser"

test-db: setup
	$(BIN)/pytest -q -m db

test-asterisk: setup
	$(BIN)/pytest -q -m asterisk

capture: setup
	$(BIN)/python -m tests.cti.pbx.scenarios

# Pictures of the desk with a pop and of the wallboard under load (a real call centre runs meanwhile).
docs-screenshots: setup
	$(BIN)/python -m tests.app.browser.screenshots docs

test-browser: setup
	$(BIN)/pytest -q -m browser

bench: setup
	@for b in bench/*.py; do [ $$b = bench/mutation.py ] && continue; echo "# $$b" >&2; $(BIN)/python $$b || exit 1; done

# Mutation testing of the pure core against the fast tiers (long, see README; not in `make test`
# nor `make bench`): one JSON line per module and a total.
mutation: setup
	$(PIP) install -q -e '.[test,mutation]'
	$(BIN)/python bench/mutation.py

clean:
	rm -rf $(VENV) var/*.db var/run node_modules $(VENDOR)

# UI translations (web/locale): refresh the template from the sources, merge it into each catalogue.
# The .po files are committed; the app compiles them at start-up, `make i18n` writes .mo files for tools.
I18N_KEYWORDS := -k _gettext -k gettext -k N_
i18n-extract: setup
	$(BIN)/pybabel extract -F web/babel.cfg $(I18N_KEYWORDS) -o web/locale/messages.pot --no-location \
		--sort-output --project=Plateau --copyright-holder=Plateau .
	for l in fr en; do $(BIN)/pybabel update -i web/locale/messages.pot -d web/locale -l $$l --no-fuzzy-matching --ignore-obsolete; done

i18n: setup
	$(BIN)/python -c 'from app.web.i18n import compile_all; print(*compile_all(), sep="\n")'
