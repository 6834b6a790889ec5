# The two commands of the README:
#   make demo   installs what is missing, builds, runs the default experiment
#   make test   installs what is missing, builds, runs the whole test suite
# PRESET=debug (or asan) picks another CMake preset; make test-asan runs the sanitizer subset.
PRESET ?= release
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build demo test test-asan format clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) > /dev/null

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

demo: build
	./$(BUILD)/deferbench run

test: build
	OMP_WAIT_POLICY=passive ctest --preset $(PRESET) -j $(JOBS)

# The asan preset (ASan + UBSan, Debug) over the suites of tests/asan_suites.txt: the readers,
# the routing core, the sweep engine and the policy I/O. CI runs it after `make test`.
test-asan: deps
	bash scripts/test-asan.sh $(JOBS)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	rm -rf build
