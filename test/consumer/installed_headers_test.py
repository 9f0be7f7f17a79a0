#!/usr/bin/env python3
"""tools/installed_headers.py on small made-up trees: which headers are public,
which detail/ headers the closure takes, and the error for a missing include.

  installed_headers_test.py ROOT     ROOT: coronet's source root
"""
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(sys.argv.pop(1)) / "tools"))
from installed_headers import installed_headers, public_headers  # noqa: E402


def make_tree(root, files):
    for name, text in files.items():
        path = pathlib.Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class installed_headers_test(unittest.TestCase):
    def test_public_headers_are_outside_detail(self):
        with tempfile.TemporaryDirectory() as root:
            make_tree(root, {"runtime/a.hpp": "", "runtime/sync/b.hpp": "", "net/c.hpp": "",
                             "runtime/detail/d.hpp": "", "net/detail/e.hpp": "",
                             "runtime/a.cpp": "", "test/f.hpp": "", "examples/g.hpp": ""})
            self.assertEqual(public_headers(root),
                             ["net/c.hpp", "runtime/a.hpp", "runtime/sync/b.hpp"])

    def test_closure_takes_detail_headers_reached_by_includes_only(self):
        with tempfile.TemporaryDirectory() as root:
            make_tree(root, {
                "runtime/a.hpp": '#pragma once\n#include "coronet/runtime/detail/d.hpp"\n',
                # reached through d.hpp, with the other include spelling
                "runtime/detail/d.hpp": "#include <coronet/net/detail/e.hpp>\n",
                "net/detail/e.hpp": "#include <vector>\n",
                "runtime/detail/unused.hpp": "",  # no public header reaches it
                # commented out: not an include
                "net/c.hpp": '// #include "coronet/runtime/detail/unused.hpp"\n',
            })
            self.assertEqual(installed_headers(root),
                             ["net/c.hpp", "net/detail/e.hpp", "runtime/a.hpp",
                              "runtime/detail/d.hpp"])

    def test_include_cycle_ends(self):
        with tempfile.TemporaryDirectory() as root:
            make_tree(root, {"runtime/a.hpp": '#include "coronet/runtime/detail/d.hpp"\n',
                             "runtime/detail/d.hpp": '#include "coronet/runtime/a.hpp"\n'})
            self.assertEqual(installed_headers(root), ["runtime/a.hpp", "runtime/detail/d.hpp"])

    def test_missing_include_names_the_includer(self):
        with tempfile.TemporaryDirectory() as root:
            make_tree(root, {"net/c.hpp": '#include "coronet/runtime/detail/gone.hpp"\n'})
            with self.assertRaisesRegex(FileNotFoundError,
                                        r"net/c\.hpp includes <coronet/runtime/detail/gone\.hpp>"):
                installed_headers(root)


if __name__ == "__main__":
    unittest.main(verbosity=2)
