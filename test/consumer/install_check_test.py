#!/usr/bin/env python3
"""install_check.py's checks catch a bad install: made-up staging trees with a
header missing, a header too many, a header that does not compile on its
own, and a file that should not be there.

  install_check_test.py CXX...     CXX: the compiler command (the build's)
"""
import os
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from install_check import check_stage  # noqa: E402

CXX = sys.argv[1:]
del sys.argv[1:]

GOOD = {
    "runtime/a.hpp": '#pragma once\n#include "coronet/runtime/detail/d.hpp"\n'
                     "inline int a() { return coronet::detail::d(); }\n",
    "runtime/detail/d.hpp": "#pragma once\nnamespace coronet::detail {\n"
                            "inline int d() { return 1; }\n}\n",
}
LIBS = {"libcoronet.a", "pkgconfig/coronet.pc"}


class install_check_test(unittest.TestCase):
    def stage(self, headers, libs=LIBS):
        """A staging tree usr/local/{include/coronet,lib}; returns check_stage's answer."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        root = pathlib.Path(tmp.name)
        include = root / "usr/local/include/coronet"
        libdir = root / "usr/local/lib"
        for name, text in headers.items():
            (include / name).parent.mkdir(parents=True, exist_ok=True)
            (include / name).write_text(text)
        for name in libs:
            (libdir / name).parent.mkdir(parents=True, exist_ok=True)
            (libdir / name).write_text("")
        compile_ = [*CXX, "-std=c++20", "-fsyntax-only", f"-I{include.parent}", "-x", "c++", "-"]
        return check_stage(root, include, libdir, set(GOOD), LIBS, compile_, dict(os.environ))

    def test_a_complete_install_passes(self):
        passed, failures = self.stage(GOOD)
        self.assertEqual(failures, [])
        self.assertEqual(passed, 4)  # the header set, the other files, two headers compiled

    def test_a_missing_detail_header_is_named_and_its_includer_fails_to_compile(self):
        passed, failures = self.stage({"runtime/a.hpp": GOOD["runtime/a.hpp"]})
        self.assertIn("not installed: runtime/detail/d.hpp", failures[0])
        self.assertIn("<coronet/runtime/a.hpp> does not compile on its own", failures[1])
        self.assertEqual(len(failures), 2)

    def test_a_header_outside_the_closure_is_named(self):
        _, failures = self.stage({**GOOD, "runtime/detail/unused.hpp": "#pragma once\n"})
        self.assertEqual(failures, ["installed but neither public nor included by a public "
                                    "header: runtime/detail/unused.hpp"])

    def test_a_header_that_needs_an_include_it_lacks_fails(self):
        broken = {**GOOD, "runtime/detail/d.hpp": "#pragma once\nstd::vector<int> d();\n"}
        _, failures = self.stage(broken)
        self.assertTrue(any("<coronet/runtime/detail/d.hpp> does not compile on its own" in f
                            for f in failures), failures)

    def test_an_unexpected_file_is_named_and_a_missing_library_too(self):
        _, failures = self.stage(GOOD, libs={"pkgconfig/coronet.pc", "libother.so"})
        self.assertEqual(len(failures), 2, failures)
        self.assertIn("libcoronet.a", failures[0])
        self.assertEqual(failures[1], "installed but not expected: libother.so")


if __name__ == "__main__":
    unittest.main(verbosity=2)
