# Sourced by the make_*.sh scripts: sets `py` to the training Python, from TRAIN_PYTHON
# (default .venv-train/bin/python; a bare command name is looked up on PATH), or stops with a
# message saying how to get one.
py=${TRAIN_PYTHON:-.venv-train/bin/python}
if [[ "$py" != */* ]]; then
  py=$(command -v "$py") || { echo "TRAIN_PYTHON=${TRAIN_PYTHON:-}: not found on PATH" >&2; exit 1; }
fi
if [ ! -x "$py" ]; then
  echo "$py not found: run \`make train-venv\` (or set TRAIN_PYTHON to a Python with models/train/requirements.txt)" >&2
  exit 1
fi
