#!/usr/bin/python3
"""Checks that #include lines follow the dependency arrows of DESIGN.md (one library per folder).

ir -> nothing; frontend, passes, codegen -> ir; runtime -> ir, codegen; models -> ir, frontend;
tools and tests -> anything. Also keeps LLVM and CUDA headers inside their backend folders.
Usage: check-layering.py REPO_ROOT
"""
import os
import re
import sys

ALLOWED = {
    "ir": {"ir"},
    "frontend": {"ir", "frontend"},
    "passes": {"ir", "passes"},
    "codegen": {"ir", "codegen"},
    "runtime": {"ir", "codegen", "runtime"},
    "models": {"ir", "frontend", "models"},
}
FOLDERS = set(ALLOWED) | {"tools", "tests"}
LLVM_OK = ("codegen/cpu/", "runtime/cpu/")
CUDA_OK = ("codegen/cuda/", "runtime/cuda/")

root = sys.argv[1]
bad = []
for top in ALLOWED:
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for f in files:
            if not f.endswith((".h", ".cpp", ".hpp", ".inc", ".def")):
                continue
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            for n, line in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
                m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
                if not m:
                    continue
                inc = m.group(1)
                first = inc.split("/")[0]
                if first in FOLDERS and first not in ALLOWED[top]:
                    bad.append(f"{rel}:{n}: {top}/ may not include {inc} ({top} -> {', '.join(sorted(ALLOWED[top]))})")
                if inc.startswith(("llvm/", "llvm-c/")) and not rel.startswith(LLVM_OK):
                    bad.append(f"{rel}:{n}: LLVM headers stay in {' and '.join(LLVM_OK)}")
                if re.match(r"(cuda|nvrtc|cuda_runtime)\w*\.h", inc) and not rel.startswith(CUDA_OK):
                    bad.append(f"{rel}:{n}: CUDA headers stay in {' and '.join(CUDA_OK)}")
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("layering ok")
