# The two entry points of the README: `make demo` (main job) and `make test` (all tests).
CARGO ?= cargo
PYTHON ?= python3

# Empty: a portable build (the x86-64 baseline). A CPU name for rustc's `-C target-cpu`
# (`x86-64-v3`, `native`, ...) builds everything for that CPU; the tracker then refuses to
# start on a CPU without its extensions.
GNNTRACK_TARGET_CPU ?=
ifneq ($(strip $(GNNTRACK_TARGET_CPU)),)
export RUSTFLAGS += -C target-cpu=$(GNNTRACK_TARGET_CPU)
endif

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

.PHONY: demo test test-cmake test-docs check-cmake-tools test-models venv build lint clean model embedding-model candidate-model example-models train-venv

build:
	$(CARGO) build --release

# Simulates a xi = 5 crossing, reconstructs it with the bundled model (onnxruntime from .venv)
# and prints efficiency, fake rate and times.
demo: build venv
	./target/release/gnntrack demo --xi 5 --seed 1

test: check-cmake-tools test-models
	$(CARGO) test --release --workspace
	$(VENV)/bin/python tests/models/test_optimize_onnx.py
	$(VENV)/bin/python tests/models/test_example_models.py
	$(MAKE) --no-print-directory test-cmake
	$(MAKE) --no-print-directory test-docs

# The CMake part of `make test` needs these; say so before any long work.
check-cmake-tools:
	@missing=""; \
	for tool in "$(CMAKE)" c++ pkg-config; do \
	    command -v "$$tool" >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "make test needs$$missing: install them first (Debian: apt-get install cmake g++ pkg-config)" >&2; \
	    exit 1; \
	fi

# An iLCSoft installation (../shared/ilcsoft/build.sh PREFIX; .ci/run sets this) turns on the
# Marlin processor and the real Marlin job test; without it that test is skipped.
GNNTRACK_ILCSOFT_PREFIX ?=
ifneq ($(GNNTRACK_ILCSOFT_PREFIX),)
MARLIN_OPTIONS := -DGNNTRACK_BUILD_MARLIN=ON -DCMAKE_PREFIX_PATH=$(GNNTRACK_ILCSOFT_PREFIX) \
    -DGNNTRACK_MARLIN_PROGRAM=$(GNNTRACK_ILCSOFT_PREFIX)/bin/Marlin
endif

# Configure, build, install into a prefix inside the build folder, and run ctest there.
# onnxruntime of .venv, installed beside the library by the tests' installations (the
# installed_env_i test runs them with an empty environment).
ORT_LIBRARY = $(firstword $(wildcard $(VENV)/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*))

test-cmake: test-models
	$(CMAKE) -S . -B $(CMAKE_BUILD) -DCMAKE_BUILD_TYPE=Release -DGNNTRACK_TEST_MODELS=$(CURDIR)/$(TEST_MODELS) \
	    -DGNNTRACK_ONNXRUNTIME_LIBRARY=$(abspath $(ORT_LIBRARY)) $(MARLIN_OPTIONS)
	$(CMAKE) --build $(CMAKE_BUILD)
	cd $(CMAKE_BUILD) && ctest --output-on-failure

# Every code block of README.md, docs/ and cpp_adapter/README.md is run or checked against the
# release build (conventions in docs/README.md); onnxruntime comes from .venv.
test-docs: build venv
	$(PYTHON) tests/docs/check_docs.py

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/models/setup_venv.sh
	PYTHON=$(PYTHON) tests/models/setup_venv.sh $(VENV) onnx==$(ONNX_VERSION) onnxruntime==$(ONNXRUNTIME_VERSION)
	touch $@

# Small ONNX models with known functions and broken variants, for tests/inference*.rs.
test-models: $(TEST_MODELS)/.stamp

$(TEST_MODELS)/.stamp: tests/models/make_test_models.py models/train/optimize_onnx.py $(VENV_STAMP)
	$(VENV)/bin/python tests/models/make_test_models.py $(TEST_MODELS)
	touch $@

# Training (PyTorch; not used by the tests): environment, then the default model from seed 1.
train-venv: .venv-train/.installed

.venv-train/.installed: models/train/requirements.txt
	$(PYTHON) -m venv .venv-train
	.venv-train/bin/pip install -q -r models/train/requirements.txt
	touch $@

# The model, its report, loss plot and state go to MODEL_OUT; REPLACE_BUNDLED=1 also copies it
# over the bundled models/gnntrack_in_fast.onnx, the default (compiled into the library: 2
# iterations, ReLU, 8-wide messages, distilled from gnntrack_in_small). VARIANT=small trains
# its teacher models/gnntrack_in_small.onnx instead (3 iterations, tanh), VARIANT=filter the
# edge filter of the graph stage, models/gnntrack_filter.onnx (also compiled in). SEED
# (default: that of the bundled model) seeds the training.
MODEL_OUT ?= out/model
REPLACE_BUNDLED ?= 0
VARIANT ?= fast
MODEL_NAME = $(if $(filter small,$(VARIANT)),gnntrack_in_small,$(if $(filter filter,$(VARIANT)),gnntrack_filter,gnntrack_in_fast))
model: train-venv
	TRAIN_PYTHON=$(CURDIR)/.venv-train/bin/python REPLACE_BUNDLED=$(REPLACE_BUNDLED) VARIANT=$(VARIANT) \
	    models/train/make_model.sh $(MODEL_OUT)/$(MODEL_NAME).onnx $(SEED)

# The hit embedding of the learned graph builder (models/train/make_embedding.sh) into
# EMBEDDING_OUT; REPLACE_BUNDLED=1 also copies it over models/gnntrack_embedding.onnx.
EMBEDDING_OUT ?= out/embedding
embedding-model: train-venv
	TRAIN_PYTHON=$(CURDIR)/.venv-train/bin/python REPLACE_BUNDLED=$(REPLACE_BUNDLED) \
	    models/train/make_embedding.sh $(EMBEDDING_OUT)/gnntrack_embedding.onnx 1

# The candidate classifier: candidates of simulated crossings (xi = 5 and 7, 30 per intensity
# from seed 2000 for training, 10 from seed 3000 to choose the cut; the report seeds of
# `gnntrack eval` are 1000 + xi), then training, export and the rewrite of optimize_onnx.py
# (row lookups as Gather, dense layers on gathered rows split). The model, its report and the cut
# scan go to MODEL_OUT; REPLACE_BUNDLED=1 also copies it over models/gnntrack_candidates.onnx.
candidate-model: train-venv venv build
	rm -rf $(MODEL_OUT)/candidates-train $(MODEL_OUT)/candidates-tune
	./target/release/gnntrack export-candidates --xi 5,7 --bx 30 --seed 2000 --out $(MODEL_OUT)/candidates-train
	./target/release/gnntrack export-candidates --xi 5,7 --bx 10 --seed 3000 --out $(MODEL_OUT)/candidates-tune
	cd models/train && $(CURDIR)/.venv-train/bin/python candidates.py \
	    --train $(CURDIR)/$(MODEL_OUT)/candidates-train --tune $(CURDIR)/$(MODEL_OUT)/candidates-tune \
	    --steps 500 --batch 2048 --out $(CURDIR)/$(MODEL_OUT)/gnntrack_candidates.export.onnx
	$(VENV)/bin/python models/train/optimize_onnx.py $(MODEL_OUT)/gnntrack_candidates.export.onnx \
	    $(MODEL_OUT)/gnntrack_candidates.onnx --version 1.0.2
	if [ "$(REPLACE_BUNDLED)" = 1 ]; then cp $(MODEL_OUT)/gnntrack_candidates.onnx models/; fi

# The example generic graph models and their sample of simulated showers
# (models/examples/README.md), written over the committed ones in models/examples.
example-models: train-venv
	cd models/examples && $(CURDIR)/.venv-train/bin/python train_examples.py --out .

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

clean:
	$(CARGO) clean
	rm -rf out $(VENV) .venv-train
