#!/usr/bin/env bash
# The project's text speaks of the project alone: no working-session numbering ("session 3"), no
# references to planning documents outside the repository (a spec's sections, a suggested design,
# ../shared/ paths) in the README, docs/, configs/, scripts, the build files or any source. History
# is named by its date and the change. Fails naming each file and line.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files README.md docs configs scripts .ci CMakeLists.txt '*/CMakeLists.txt' '*.h' '*.cpp' '*.sh' '*.py' \
        '*.yaml' '*.md' 2>/dev/null | sort -u)
[[ -n "$files" ]] || files=$(find README.md docs configs scripts apps agents common objectives envs data bench tests \
                               -type f 2>/dev/null)
# Catch2's Catch::Session is the test framework's class, not a working session.
# shellcheck disable=SC2086
hits=$(grep -nHiE "\bsessions?\b|spec §|the spec's|suggested design|\.\./shared|specs/" $files |
       grep -v 'Catch::Session' | grep -v '^tests/check_project_text.sh:')
if [[ -n "$hits" ]]; then
  echo "project text: mentions of working sessions or documents outside the repository:"
  echo "$hits"
  exit 1
fi
