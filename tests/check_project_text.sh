#!/usr/bin/env bash
# The project's text speaks of the project alone: no numbered working periods of its authors, no
# references to planning documents outside the repository (their sections, their design, paths
# beside the repository) in the README, docs/, configs/, scripts, the build files or any source.
# History is named by its date and the change. Fails naming each file and line. The words are
# assembled below so that this file does not match itself.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files README.md docs configs scripts .ci CMakeLists.txt '*/CMakeLists.txt' '*.h' '*.cpp' '*.sh' '*.py' \
        '*.yaml' '*.md' 2>/dev/null | sort -u)
[[ -n "$files" ]] || files=$(find README.md docs configs scripts apps agents common objectives envs data bench tests \
                               -type f 2>/dev/null)
period="sess""ions?"
planning="sp""ec §|the sp""ec's|sugg""ested design|\.\./sha""red|spe""cs/"
# Catch2's Catch::Session is the test framework's class.
# shellcheck disable=SC2086
hits=$(grep -nHiE "\\b${period}\\b|${planning}" $files | grep -v 'Catch::Session')
if [[ -n "$hits" ]]; then
  echo "project text: mentions of working periods or documents outside the repository:"
  echo "$hits"
  exit 1
fi
