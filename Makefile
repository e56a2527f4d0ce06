# Thin wrapper over CMake; every target installs what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test asan fuzz run bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS); rc=$$?; \
	  echo "== summaries"; grep -h -E "^[a-z_]+: [0-9]+ passed, [0-9]+ failed" Testing/Temporary/LastTest.log; exit $$rc

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS); rc=$$?; \
	  echo "== summaries"; grep -h -E "^[a-z_]+: [0-9]+ passed, [0-9]+ failed" Testing/Temporary/LastTest.log; exit $$rc

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DDF_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@echo "fuzzers in build-fuzz/: run e.g. build-fuzz/fuzz_onnx fuzz/corpus/onnx -max_total_time=60"

run: build
	@bash scripts/run-demo.sh

bench: build
	@bash bench/peers/run.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
