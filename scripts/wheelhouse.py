"""Download every wheel alft needs, except PyTorch and its CUDA stack, for an air-gapped machine.

The target is another interpreter and platform (default CPython 3.12, manylinux x86_64): pip resolves alft's
dependencies for it with `--only-binary=:all:`; a dependency published only as an sdist is built here into a
wheel when it is pure Python (`py3-none-any`), and named as an error otherwise. The result is `OUT/` with
alft's own wheel, every dependency wheel and `OUT/requirements.txt`; on the target:

    pip install --no-index --find-links OUT 'alft[wandb]'

    python scripts/wheelhouse.py [--out wheelhouse] [--python 3.12] [--extras wandb] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64",
             "linux_x86_64", "any")
# PyTorch is installed on the GPU machine already (its CUDA build); these come with it.
SKIP = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")


def pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode:
        sys.exit(f"wheelhouse: pip {args[0]} failed:\n{proc.stderr[-3000:]}")
    return proc


def target_flags(python: str) -> list[str]:
    abi = "cp" + python.replace(".", "")
    flags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp", "--abi", abi,
             "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        flags += ["--platform", platform]
    return flags


def kept(report: dict) -> list[tuple[str, str, str]]:
    """(name, version, url) of every resolved distribution except PyTorch's and alft's own."""
    rows = []
    for item in report["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if not SKIP.match(canonical) and canonical != "alft":
            rows.append((canonical, version, item["download_info"]["url"]))
    return sorted(rows)


def build_pure_wheel(requirement: str, out: Path) -> None:
    """Build an sdist-only requirement into `out`; only a pure-Python wheel runs on another interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        pip("wheel", "--no-deps", "-q", "-w", tmp, requirement)
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels or not all(w.name.endswith("-none-any.whl") for w in wheels):
            sys.exit(f"wheelhouse: {requirement} has no wheel for the target and builds a compiled one "
                     f"({', '.join(w.name for w in wheels)}); build it on the target machine")
        for wheel in wheels:
            wheel.replace(out / wheel.name)


def report(requirement: str, flags: list[str], find_links: Path) -> dict:
    """pip's install report (`pip install --dry-run --report`) for `requirement` under `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(out), "--target",
            str(Path(tmp) / "target"), "--find-links", str(find_links), *flags, requirement)
        return json.loads(out.read_text())


def resolve(requirement: str, out: Path, python: str) -> dict:
    """The target's install report: sdist-only dependencies (found by resolving for this interpreter, which
    may build them) are built into `out` first, so that the target's `--only-binary` resolution finds them."""
    for name, version, url in kept(report(requirement, [], out)):
        if not url.startswith("file:") and not url.endswith(".whl"):
            print(f"building {name}=={version} (an sdist on PyPI)", flush=True)
            build_pure_wheel(f"{name}=={version}", out)
    return report(requirement, target_flags(python), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "wheelhouse")
    parser.add_argument("--python", default="3.12", help="target CPython version")
    parser.add_argument("--extras", default="wandb", help="alft extras to include, comma-separated ('' for none)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be downloaded, download nothing")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    pip("wheel", "--no-deps", "-q", "-w", str(args.out), str(REPO))
    wheel = max(args.out.glob("alft-*.whl"), key=lambda p: p.stat().st_mtime)
    extras = f"[{args.extras}]" if args.extras else ""
    rows = kept(resolve(f"{wheel}{extras}", args.out, args.python))
    (args.out / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v, _ in rows))
    remote = [f"{n}=={v}" for n, v, url in rows if not url.startswith("file:")]
    if args.dry_run:
        print("\n".join(remote))
    else:
        pip("download", "--no-deps", "-q", "-d", str(args.out), *target_flags(args.python), *remote)
    size = sum(p.stat().st_size for p in args.out.glob("*.whl")) / 2**20
    print(f"{args.out}: {wheel.name} + {len(rows)} dependencies (PyTorch excluded), {size:.0f} MiB of wheels "
          f"for CPython {args.python} manylinux x86_64")


if __name__ == "__main__":
    main()
