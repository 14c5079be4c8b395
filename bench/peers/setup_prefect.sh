#!/usr/bin/env bash
# Create bench/peers/.venv-prefect with Prefect 3 for the side-by-side benchmark.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-prefect"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# FastAPI 0.155 dropped Body(min_items=...), which Prefect 3.8's server still passes.
"$venv/bin/python" -m pip install --quiet 'prefect>=3,<4' 'fastapi<0.155'
"$venv/bin/python" -c 'import prefect; print("prefect", prefect.__version__)'
