# The two entry points of the README: `make demo` (main job) and `make test` (all tests).
CARGO ?= cargo
PYTHON ?= python3

# Python tools of the tests: `onnx` writes the test models, the `onnxruntime` wheel provides
# libonnxruntime.so (found by the library's own discovery in .venv). Nothing else uses Python.
VENV := .venv
ONNX_VERSION := 1.23.2
ONNXRUNTIME_VERSION := 1.31.1
VENV_STAMP := $(VENV)/.installed-onnx-$(ONNX_VERSION)-onnxruntime-$(ONNXRUNTIME_VERSION)
TEST_MODELS := target/test-models
# The CMake package (C and C++ programs against an installed copy); cargo's target folder is
# shared, so the library is built once.
CMAKE ?= cmake
CMAKE_BUILD := target/cmake

.PHONY: demo test test-cmake test-models venv build lint clean model train-venv

build:
	$(CARGO) build --release

# Simulates a xi = 5 crossing, reconstructs it with the bundled model (onnxruntime from .venv)
# and prints efficiency, fake rate and times.
demo: build venv
	./target/release/gnntrack demo --xi 5 --seed 1

test: test-models
	$(CARGO) test --release
	$(MAKE) --no-print-directory test-cmake

# Configure, build, install into a prefix inside the build folder, and run ctest there.
test-cmake: test-models
	$(CMAKE) -S . -B $(CMAKE_BUILD) -DCMAKE_BUILD_TYPE=Release -DGNNTRACK_TEST_MODELS=$(CURDIR)/$(TEST_MODELS)
	$(CMAKE) --build $(CMAKE_BUILD)
	cd $(CMAKE_BUILD) && ctest --output-on-failure

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/models/setup_venv.sh
	PYTHON=$(PYTHON) tests/models/setup_venv.sh $(VENV) onnx==$(ONNX_VERSION) onnxruntime==$(ONNXRUNTIME_VERSION)
	touch $@

# Small ONNX models with known functions and broken variants, for tests/inference*.rs.
test-models: $(TEST_MODELS)/.stamp

$(TEST_MODELS)/.stamp: tests/models/make_test_models.py $(VENV_STAMP)
	$(VENV)/bin/python tests/models/make_test_models.py $(TEST_MODELS)
	touch $@

# Training (PyTorch; not used by the tests): environment, then the default model from seed 1.
train-venv: .venv-train/.installed

.venv-train/.installed: models/train/requirements.txt
	$(PYTHON) -m venv .venv-train
	.venv-train/bin/pip install -q -r models/train/requirements.txt
	touch $@

model: train-venv
	models/train/make_model.sh models/gnntrack_in_small.onnx 1

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --release -- -D warnings

clean:
	$(CARGO) clean
	rm -rf out $(VENV)
