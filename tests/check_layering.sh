#!/usr/bin/env bash
# The layering of the architecture (README, "Architecture"): apps -> agents -> data -> envs,
# agents -> objectives, with common/ a leaf below all and bench/ beside apps. Fails, naming the file and
# the include, when a folder includes a header from a folder it must not reach.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
check() {  # check FOLDER FORBIDDEN...
  local folder=$1; shift
  for forbidden in "$@"; do
    if hits=$(grep -rnE "#include \"$forbidden/" "$folder" --include='*.h' --include='*.cpp'); then
      echo "layering: $folder/ must not include $forbidden/:"; echo "$hits"; status=1
    fi
  done
}
check common objectives envs data agents apps bench
check objectives envs data agents apps bench
check envs data agents apps bench objectives
check data agents apps bench
check agents apps bench
check bench apps
exit $status
