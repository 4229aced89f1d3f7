# esmarket: the two commands a newcomer runs are `make demo` and `make test` (see README).
# Both install what they need first (json-c from Debian, test-only Python packages from PyPI).

SWIFT      ?= swift
PYTHON     ?= python3
RELEASE    := .build/release
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test-deps build demo test test-swift test-c test-python clean

## deps: system libraries the build needs (json-c through pkg-config).
deps:
	@pkg-config --exists json-c 2>/dev/null || { \
	  echo "== installing libjson-c-dev and pkg-config"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libjson-c-dev pkg-config; }

## test-deps: test-only Python packages and valgrind for the C API test.
test-deps: deps
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind; }
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r Tests/python/requirements.txt

## build: libesmarket.so and the `esmarket` command-line tool (bin/esmarket), release mode.
build: deps
	$(SWIFT) build -c release --product esmarket
	$(SWIFT) build -c release --product esmarket-cli
	@mkdir -p bin && cp $(RELEASE)/esmarket-cli bin/esmarket

## demo: the main job on a built-in case (IEEE 123-bus feeder, 12,300 prosumers).
demo: build
	bin/esmarket demo

## test: every test suite (Swift, C API under valgrind, Python binding and examples).
test: build test-deps test-swift test-c test-python

test-swift: deps
	$(SWIFT) test

test-c: build
	ESM_VALGRIND=1 Tests/c/run.sh

test-python: build test-deps
	$(PYTHON) -m pip install -q --disable-pip-version-check ./bindings/python
	ESMARKET_TEST_PIP=1 $(PYTHON) -m pytest -q Tests/python

clean:
	rm -rf .build bin
