#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/mlops/stack;
# copy the files git knows about into a scratch tree and run sanity there.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/mlops/stack"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard \
  | grep -zv '^\.ci/' | xargs -0 cp --parents -t "$dest" 2>/dev/null || true
# ansible-test only sees files tracked by git when a .git exists.
(cd "$dest" && git init -q && git add -A >/dev/null)
# ansible-test --venv fetches get-pip.py from a host that is unreachable
# here; provide an equivalent that uses ensurepip and the package index.
pip_ver="$("$VENV/bin/python" -c 'import re,ansible_test,pathlib;p=pathlib.Path(ansible_test.__file__).parent/"_internal/python_requirements.py";print(re.search(r"pip=.([0-9.]+).",p.read_text()).group(1))')"
shim="$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
if ! cmp -s "$ROOT/scripts/support/get_pip_offline.py" "$shim"; then
  mkdir -p "$(dirname "$shim")" && cp "$ROOT/scripts/support/get_pip_offline.py" "$shim"
fi
py="$("$VENV/bin/python" -c 'import sys;print("%d.%d"%sys.version_info[:2])')"
cd "$dest"
ansible-test sanity --venv --python "$py" --color no "$@"
