#!/usr/bin/env bash
# The layering of the architecture (docs/architecture.md): apps -> agents -> data -> envs,
# agents -> objectives, with common/ a leaf below all and bench/ beside apps; inside apps/,
# commands -> study -> run -> algos -> config; inside agents/, core/ below the loops and methods. Fails, naming the file and the include, when a folder
# includes a header from a folder it must not reach, or when two files include each other's headers.
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
# Inside agents/, core/ stands below the loops and the methods.
check agents/core agents/loops agents/sac agents/bc agents/oreo agents/preference agents/grpo agents/distill
check apps/config apps/algos apps/run apps/study apps/commands
check apps/algos apps/run apps/study apps/commands
check apps/run apps/study apps/commands
check apps/study apps/commands

# No two modules (x.h with x.cpp) include each other's headers.
declare -A includes
for f in $(find common objectives envs data agents apps bench -name '*.h' -o -name '*.cpp'); do
  module=${f%.*}
  for h in $(grep -oE '^#include "[a-z0-9_/]+\.h"' "$f" | sed -E 's/#include "(.*)\.h"/\1/'); do
    [[ "$h" != "$module" ]] && includes["$module>$h"]=1
  done
done
for pair in "${!includes[@]}"; do
  a=${pair%%>*}; b=${pair#*>}
  if [[ "$a" < "$b" && -n "${includes["$b>$a"]:-}" ]]; then
    echo "layering: $a and $b include each other's headers"; status=1
  fi
done
exit $status
