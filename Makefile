# The two entry points of the README: `make demo` (main job) and `make test` (all tests).
CARGO ?= cargo

.PHONY: demo test build lint clean

build:
	$(CARGO) build --release

demo: build
	./target/release/gnntrack simulate --xi 5 --bx 1 --seed 1 --out out/demo
	./target/release/gnntrack inspect out/demo/bx_1_0000.csv

test:
	$(CARGO) test --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --release -- -D warnings

clean:
	$(CARGO) clean
	rm -rf out
