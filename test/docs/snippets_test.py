#!/usr/bin/env python3
"""README code comes from files the build compiles: every ```cpp block in
README.md must appear verbatim in the example file named just above it
(a link to examples/NAME.cpp in the preceding paragraph)."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2]
readme = (root / "README.md").read_text()
blocks = list(re.finditer(r"```cpp\n(.*?)```", readme, re.S))
if not blocks:
    print("README.md has no ```cpp block to check")
    sys.exit(1)
failed = 0
for m in blocks:
    before = readme[: m.start()]
    sources = re.findall(r"\((examples/[\w/]+\.cpp)\)", before)
    if not sources:
        print(f"a ```cpp block at offset {m.start()} names no examples/*.cpp source above it")
        failed += 1
        continue
    source = root / sources[-1]
    if m.group(1) not in source.read_text():
        print(f"README block differs from {sources[-1]}; copy it again from the file")
        failed += 1
print(f"{len(blocks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
