#!/usr/bin/env python3
"""Checks every fenced code block of the documentation, and its relative links.

Run from anywhere: `python3 tests/docs/check_docs.py [FILE.md ...]` (default: README.md,
docs/*.md, cpp_adapter/README.md). `make test` runs it as `make test-docs`. The conventions
(which marker a block needs, what is run and what is only checked) are described in
docs/README.md, section "Checked documentation".

It needs a release build: the command-line tool (target/release/gnntrack, or $GNNTRACK_BIN),
the library (target/release/libgnntrack.so and .rlib, or $GNNTRACK_LIB_DIR) and, for the blocks
that load a model, onnxruntime as the library finds it (the .venv of `make test`).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        sys.exit("check_docs.py needs Python >= 3.11 (tomllib) or the tomli package")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILES = ["README.md", "docs/*.md", "cpp_adapter/README.md", "models/README.md", "models/train/README.md"]
README_MAX_LINES = 200
TIMEOUT_S = 600

# Top-level entries of the repository that the per-document work folder does not mirror
# (build outputs and version control); everything else is linked in, so that commands can use
# `models/...`, `include/...` and the `.venv` onnxruntime as they would in a checkout.
NOT_MIRRORED = {".git", "target", "out", "build"}

# A crossing without hits, valid in any geometry: the configuration checks only need the
# tracker (geometry, graph settings, onnxruntime, model) or the graph builder to start.
EMPTY_HITS = "hit_id,x,y,z,layer,stave\n"

# What the first line of a ```toml block may say: a table of the tracker configuration, or one
# of these comments naming the kind of file.
TOML_KIND_COMMENTS = {
    "tracker configuration": "tracker",
    "geometry file": "geometry",
    "graph configuration file": "graph",
}

MARKER = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([^`\s]*)\s*(.*)$")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def fail(self, block: Block | None, message: str) -> None:
        where = block.where if block else "docs"
        self.failures.append(f"{where}: {message}")
        print(f"FAIL {where}: {message.splitlines()[0]}")


# --------------------------------------------------------------------------------------------
# Markdown parsing


def parse_blocks(path: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a Markdown file and its lines outside them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        marker = None
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (mm := MARKER.match(lines[j])):
            marker = mm.group(1)
        body = []
        start = i + 1
        i += 1
        while i < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[i]):
            line = lines[i]
            strip = len(line) - len(line.lstrip(" "))
            body.append(line[min(indent, strip):])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{path}:{start}: code block without a closing fence")
        i += 1
        blocks.append(Block(path, start, lang, "\n".join(body) + "\n", marker))
    return blocks, prose


def check_copied_tables(path: Path, report: Report) -> None:
    """A table after `<!-- rows from: FILE -->` copies rows that a tool wrote into FILE (a path
    relative to the document): each of its lines except the separator must be a line of FILE."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m or not (src := re.match(r"^rows from:\s*(\S+)$", m.group(1))):
            continue
        source = (path.parent / src.group(1)).resolve()
        if not source.is_file():
            report.fail(None, f"{path.relative_to(REPO)}:{i + 1}: no file {src.group(1)}")
            continue
        written = set(source.read_text(encoding="utf-8").splitlines())
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        rows = 0
        while j < len(lines) and lines[j].startswith("|"):
            if not re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[j]):
                rows += 1
                if lines[j] not in written:
                    report.fail(None, f"{path.relative_to(REPO)}:{j + 1}: this row is not in "
                                f"{src.group(1)} (copy it from there, as the tool wrote it): {lines[j]}")
            j += 1
        if rows == 0:
            report.fail(None, f"{path.relative_to(REPO)}:{i + 1}: no table after the marker")
        else:
            report.count("copied table rows")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(prose: list[str]) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def check_links(path: Path, prose: list[str], report: Report) -> None:
    text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in prose)
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            report.fail(None, f"{path.relative_to(REPO)}: link to missing `{target}`")
            continue
        report.count("links")
        if anchor and dest.suffix == ".md":
            _, dest_prose = parse_blocks(dest)
            if anchor not in anchors(dest_prose):
                report.fail(None, f"{path.relative_to(REPO)}: link `{target}`: no such heading")


# --------------------------------------------------------------------------------------------
# Tools


@dataclass
class Tools:
    gnntrack: Path
    lib_dir: Path
    work: Path
    bin_dir: Path
    no_hits: Path
    edition: str
    default_keys: set[str] | None = None


def find_tools(work: Path) -> Tools:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    gnntrack = Path(os.environ.get("GNNTRACK_BIN", target / "release" / "gnntrack"))
    lib_dir = Path(os.environ.get("GNNTRACK_LIB_DIR", target / "release"))
    for need in (gnntrack, lib_dir / "libgnntrack.so"):
        if not need.exists():
            sys.exit(f"{need} not found: build first (`cargo build --release` or `make build`)")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gnntrack"
    shim.write_text(f'#!/bin/sh\nexec "{gnntrack.resolve()}" "$@"\n')
    shim.chmod(0o755)
    empty = work / "no_hits.csv"
    empty.write_text(EMPTY_HITS)
    m = re.search(r'^edition\s*=\s*"(\d+)"', (REPO / "Cargo.toml").read_text(), re.M)
    return Tools(gnntrack.resolve(), lib_dir.resolve(), work, bin_dir, empty, m.group(1) if m else "2021")


def default_config_keys(tools: Tools) -> set[str]:
    """Every key of the default tracker configuration, printed by the library itself
    (`gnntrack_config_to_toml`), flattened to dotted paths with `[]` for arrays of tables."""
    lib = ctypes.CDLL(str(tools.lib_dir / "libgnntrack.so"))
    config = ctypes.c_void_p()
    if lib.gnntrack_config_new(ctypes.byref(config)) != 0:
        sys.exit("gnntrack_config_new failed")
    length = ctypes.c_size_t()
    lib.gnntrack_config_to_toml(config, None, ctypes.c_size_t(0), ctypes.byref(length))
    buffer = ctypes.create_string_buffer(length.value + 1)
    lib.gnntrack_config_to_toml(config, buffer, ctypes.c_size_t(length.value + 1), ctypes.byref(length))
    lib.gnntrack_config_free(config)
    return flatten(tomllib.loads(buffer.value.decode()))


def flatten(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            keys |= flatten(value, name + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= flatten(item, name + "[].")
        else:
            keys.add(name)
    return keys


def run(cmd: list[str] | str, cwd: Path, tools: Tools, timeout: int = TIMEOUT_S, shell: bool = False):
    env = dict(os.environ)
    env["PATH"] = f"{tools.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GNNTRACK_LOG", "warn")
    try:
        return subprocess.run(
            cmd, cwd=cwd, env=env, shell=shell, executable="/bin/bash" if shell else None,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(cmd, 124, out + f"\n(timed out after {timeout} s)")


def doc_folder(tools: Tools, path: Path) -> Path:
    """The work folder of one document: the repository's top-level entries linked in, the
    outputs of its blocks kept (blocks of a document run in order, so a later one may use what
    an earlier one wrote)."""
    folder = tools.work / str(path.relative_to(REPO)).replace("/", "_")
    if not folder.exists():
        folder.mkdir()
        for entry in REPO.iterdir():
            if entry.name not in NOT_MIRRORED:
                (folder / entry.name).symlink_to(entry)
    return folder


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Block checks


def check_toml(block: Block, tools: Tools, report: Report, keys_seen: dict[Path, set[str]]) -> None:
    try:
        data = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as e:
        report.fail(block, f"TOML does not parse: {e}")
        return
    first = block.text.lstrip().splitlines()[0] if block.text.strip() else ""
    kind = None
    if m := re.match(r"^\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?", first):
        kind = "tracker"
        top = m.group(1).split(".")[0]
        tables = {k.split(".")[0] for k in (tools.default_keys or set()) if "." in k}
        if tables and top not in tables:
            report.fail(block, f"table `[{m.group(1)}]` is not a table of the tracker configuration ({', '.join(sorted(tables))})")
            return
    elif first.startswith("#"):
        words = first.lstrip("#").strip().lower()
        kind = next((v for k, v in TOML_KIND_COMMENTS.items() if words.startswith(k)), None)
    if kind is None:
        report.fail(block, "a TOML block starts with its table (`[tracks]`) or a comment naming the file: "
                    + ", ".join(f"`# {k}`" for k in TOML_KIND_COMMENTS))
        return
    folder = doc_folder(tools, block.path)
    snippet = folder / f"snippet_{block.line}.toml"
    snippet.write_text(block.text)
    if kind == "tracker":
        keys_seen.setdefault(block.path, set()).update(flatten(data))
        cmd = ["gnntrack", "reconstruct", "--config", snippet.name, "--in", str(tools.no_hits)]
    elif kind == "graph":
        cmd = ["gnntrack", "graph", "--config", snippet.name, "--in", str(tools.no_hits)]
    else:
        cmd = ["gnntrack", "geometry", snippet.name]
    result = run(cmd, folder, tools, timeout=120)
    if result.returncode != 0:
        report.fail(block, f"`{' '.join(cmd[:4])}` refuses the {kind} TOML:\n{tail(result.stdout)}")
    else:
        report.count(f"toml ({kind}) checked by gnntrack")


def check_sh(block: Block, tools: Tools, report: Report) -> None:
    if block.marker != "run":
        report.fail(block, "a sh block is marked `<!-- run -->` or `<!-- not run: REASON -->`")
        return
    folder = doc_folder(tools, block.path)
    start = time.monotonic()
    result = run(["bash", "-euo", "pipefail", "-c", block.text], folder, tools)
    took = time.monotonic() - start
    if result.returncode != 0:
        report.fail(block, f"exit status {result.returncode}:\n{block.text}---\n{tail(result.stdout)}")
    else:
        print(f"  ran {block.where} in {took:.1f} s")
        report.count("sh run")


def header_names() -> set[str]:
    text = (REPO / "include/gnntrack.h").read_text() + (REPO / "include/gnntrack.hpp").read_text()
    return set(re.findall(r"\b\w+\b", text))


def check_c(block: Block, tools: Tools, report: Report) -> None:
    cpp = block.lang in ("cpp", "c++")
    if block.marker == "fragment":
        known = header_names()
        used = set(re.findall(r"\b(gnntrack_\w+|GNNTRACK_\w+)\b", block.text))
        used |= set(re.findall(r"\bgnntrack::(\w+)", block.text))
        missing = sorted(n for n in used if n not in known)
        if missing:
            report.fail(block, f"not declared in include/: {', '.join(missing)}")
        else:
            report.count(f"{block.lang} fragment names checked")
        return
    if not re.search(r"\bint\s+main\s*\(", block.text):
        report.fail(block, "a C or C++ block is a complete program (with main) or marked `<!-- fragment -->`")
        return
    folder = doc_folder(tools, block.path)
    source = folder / f"block_{block.line}.{'cpp' if cpp else 'c'}"
    source.write_text(block.text)
    compiler = os.environ.get("CXX", "c++") if cpp else os.environ.get("CC", "cc")
    flags = ["-std=c++17" if cpp else "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror",
             f"-I{REPO / 'include'}"]
    if block.marker == "run":
        program = source.with_suffix("")
        cmd = [compiler, *flags, str(source), "-o", str(program), f"-L{tools.lib_dir}", "-lgnntrack",
               f"-Wl,-rpath,{tools.lib_dir}"]
    else:
        cmd = [compiler, *flags, "-fsyntax-only", str(source)]
    result = run(cmd, folder, tools, timeout=300)
    if result.returncode != 0:
        report.fail(block, f"does not compile:\n{tail(result.stdout)}")
        return
    if block.marker == "run":
        result = run([str(program)], folder, tools)
        if result.returncode != 0:
            report.fail(block, f"the program exits with {result.returncode}:\n{tail(result.stdout)}")
            return
        report.count(f"{block.lang} compiled and run")
    else:
        report.count(f"{block.lang} compiled (syntax)")


def check_rust(block: Block, tools: Tools, report: Report) -> None:
    if not re.search(r"\bfn\s+main\s*\(", block.text):
        report.fail(block, "a Rust block is a complete program (with fn main)")
        return
    rlib = tools.lib_dir / "libgnntrack.rlib"
    if not rlib.exists():
        report.fail(block, f"{rlib} not found: `cargo build --release` writes it")
        return
    folder = doc_folder(tools, block.path)
    source = folder / f"block_{block.line}.rs"
    source.write_text(block.text)
    cmd = ["rustc", "--edition", tools.edition, "--crate-type", "bin", "--emit=metadata",
           "-o", str(source.with_suffix(".rmeta")), "-L", f"dependency={tools.lib_dir / 'deps'}",
           "--extern", f"gnntrack={rlib}", str(source)]
    result = run(cmd, folder, tools, timeout=300)
    if result.returncode != 0:
        report.fail(block, f"does not type-check against the library:\n{tail(result.stdout)}")
    else:
        report.count("rust type-checked")


def check_output(block: Block, command: str, tools: Tools, report: Report) -> None:
    """Every line of the block (numbers aside, `...` skipped) appears in the command's output."""
    folder = doc_folder(tools, block.path)
    result = run(["bash", "-euo", "pipefail", "-c", command], folder, tools)
    if result.returncode != 0:
        report.fail(block, f"`{command}` exits with {result.returncode}:\n{tail(result.stdout)}")
        return
    produced = [line.strip() for line in result.stdout.splitlines()]
    for line in block.text.splitlines():
        line = line.strip()
        if not line or line == "...":
            continue
        parts = NUMBER.split(line)
        pattern = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?".join(re.escape(p) for p in parts)
        if not any(re.fullmatch(pattern, p) for p in produced):
            report.fail(block, f"`{command}` no longer prints a line like\n  {line}\noutput:\n{tail(result.stdout)}")
            return
    report.count("output compared")


def check_block(block: Block, tools: Tools, report: Report, keys_seen: dict[Path, set[str]]) -> None:
    marker = block.marker or ""
    if marker.startswith("not run"):
        reason = marker.partition(":")[2].strip()
        if not reason:
            report.fail(block, "`<!-- not run: REASON -->` needs a reason")
        else:
            report.not_run.append(f"{block.where} ({block.lang}): {reason}")
        return
    if m := re.match(r"^(example|excerpt):\s*(\S+)$", marker):
        source = REPO / m.group(2)
        if not source.is_file():
            report.fail(block, f"{m.group(2)} does not exist")
            return
        content = source.read_text()
        same = content == block.text if m.group(1) == "example" else block.text in content
        if not same:
            report.fail(block, f"differs from {m.group(2)}: copy the file's text into the block")
            return
        report.count(f"{m.group(1)} of a file")
        if block.lang not in ("c", "cpp", "rust"):
            return
        block = Block(block.path, block.line, block.lang, block.text, None)
    if m := re.match(r"^output of:\s*(.+)$", marker):
        check_output(block, m.group(1), tools, report)
    elif block.lang == "toml":
        check_toml(block, tools, report, keys_seen)
    elif block.lang in ("sh", "bash"):
        check_sh(block, tools, report)
    elif block.lang in ("c", "cpp", "c++"):
        check_c(block, tools, report)
    elif block.lang == "rust":
        check_rust(block, tools, report)
    else:
        report.fail(block, f"no check for a `{block.lang or '(no language)'}` block: mark it "
                    "`<!-- example: FILE -->`, `<!-- excerpt: FILE -->`, `<!-- output of: COMMAND -->` "
                    "or `<!-- not run: REASON -->`")


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: the documentation)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and say where")
    args = parser.parse_args()

    if args.files:
        files = [Path(f).resolve() for f in args.files]
    else:
        files = sorted({Path(p).resolve() for pattern in DEFAULT_FILES for p in glob.glob(str(REPO / pattern))})
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="gnntrack-docs-"))
    try:
        tools = find_tools(work)
        tools.default_keys = default_config_keys(tools)
        keys_seen: dict[Path, set[str]] = {}
        for path in files:
            print(f"== {path.relative_to(REPO)}")
            blocks, prose = parse_blocks(path)
            check_links(path, prose, report)
            check_copied_tables(path, report)
            if path == REPO / "README.md" and len(path.read_text().splitlines()) > README_MAX_LINES:
                report.fail(None, f"README.md has more than {README_MAX_LINES} lines: move details to docs/")
            for block in blocks:
                check_block(block, tools, report, keys_seen)
        reference = REPO / "docs/configuration.md"
        if reference in files:
            missing = sorted(tools.default_keys - keys_seen.get(reference, set()))
            if missing:
                report.fail(None, "docs/configuration.md shows no checked TOML block with these keys of the "
                            "default configuration: " + ", ".join(missing))
            else:
                report.count("configuration keys covered")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print("\nchecked: " + ", ".join(f"{n} {what}" for what, n in sorted(report.counts.items())))
    if report.not_run:
        print(f"not run ({len(report.not_run)}):")
        for line in report.not_run:
            print(f"  {line}")
    if report.failures:
        print(f"\n{len(report.failures)} problem(s):", file=sys.stderr)
        for failure in report.failures:
            print(f"- {failure}", file=sys.stderr)
        return 1
    print("documentation checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
