#!/usr/bin/env bash
# requirements.txt must install on Linux x86-64 under Python 3.11, 3.12 and 3.13 (Streamlit
# Community Cloud lets the user pick the version). For each version: a fresh uv virtual
# environment with that interpreter and a dry-run install into it, which resolves every pin and
# picks a wheel for every package without installing anything. Where no interpreter of that
# version can be found or fetched, the same resolution runs for the version and platform without
# a venv, and says so. Everything it writes goes to one temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS=${PYTHON_VERSIONS:-"3.11 3.12 3.13"}
PLATFORM=x86_64-manylinux_2_28  # glibc 2.28 or newer, as on Streamlit Community Cloud

command -v uv >/dev/null 2>&1 || python -m pip install --quiet --disable-pip-version-check uv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# An interpreter of this version that runs: on PATH, under pyenv, or fetched by uv.
find_python() {
  local version=$1 candidate
  for candidate in "$(command -v "python$version" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if [ -x "$candidate" ] && "$candidate" -c "" >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  if UV_PYTHON_INSTALL_DIR="$work/pythons" timeout 60 uv python install --quiet "$version" \
    >/dev/null 2>&1; then
    UV_PYTHON_INSTALL_DIR="$work/pythons" uv python find --python-preference only-managed \
      "$version" 2>/dev/null
  fi
}

failed=0
for version in $VERSIONS; do
  if python=$(find_python "$version") && [ -n "$python" ]; then
    venv="$work/venv-$version"
    uv venv --quiet --python "$python" "$venv"
    how="fresh venv with $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
    command=(uv pip install --dry-run --python "$venv/bin/python" -r requirements.txt)
  else
    how="no Python $version interpreter here: resolved for $version on $PLATFORM without a venv"
    command=(uv pip install --dry-run --python-version "$version" --python-platform "$PLATFORM"
      --target "$work/target-$version" -r requirements.txt)
  fi
  if output=$("${command[@]}" 2>&1); then
    echo "Python $version ($how): $(grep -E '^Would install' <<<"$output" || echo 'resolved')"
  else
    echo "Python $version ($how): requirements.txt does NOT install:"
    echo "$output" | tail -20
    failed=1
  fi
done
exit $failed
