# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake. `make` installs missing Debian packages and
# builds into build/. `make test` installs missing packages, then builds
# and runs the suite twice, in a normal build and in an AddressSanitizer +
# UBSan build (build-asan/), and runs each fuzz target briefly (build-fuzz/).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps test test-normal test-asan test-fuzz bench clean

all: deps build

build:
	@cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

deps:
	@bash scripts/install-deps.sh

test: deps test-normal test-asan test-fuzz

test-normal:
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan:
	cmake -S . -B build-asan -DKILN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

test-fuzz:
	cmake -S . -B build-fuzz -DKILN_FUZZ=ON -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	cd build-fuzz && ctest --output-on-failure -R '^fuzz/'

bench: build
	@bash bench/run.sh

clean:
	rm -rf build build-asan build-fuzz

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]: builds, then installs
# the binary, libkiln, headers, kiln.pc, man pages and the systemd unit
# (docs/deployment.md). install-only installs an already built tree,
# INSTALL_FROM (default build/), as tests/cli/t9000-install.sh does.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_FROM ?= build
.PHONY: install install-only
install: build
	@$(MAKE) --no-print-directory install-only
install-only:
	DESTDIR="$(DESTDIR)" cmake --install "$(INSTALL_FROM)" --prefix "$(PREFIX)"

# the Rideshare demo (examples/rideshare/README.md): server, three services, load; Ctrl-C stops it
.PHONY: demo
demo: deps build
	@bash scripts/demo.sh
