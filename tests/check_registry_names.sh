#!/usr/bin/env bash
# Adding an algorithm is its own apps/algos files plus one registry line: nothing else in apps/
# names one. Fails, naming the file and line, when an algorithm's name appears as a string literal
# in apps/ outside apps/algos/ (comments and `softrl bench sac`, a benchmark's name, aside), or when
# code compares an algorithm name.
set -uo pipefail
softrl=$1
cd "$(dirname "$0")/.."
names=$("$softrl" config | awk 'NR > 1 {print $1}' | paste -sd'|')
if [[ -z "$names" ]]; then echo "registry names: softrl config listed no algorithm"; exit 1; fi
status=0
if hits=$(grep -rnE "\"($names)\"" apps --include='*.h' --include='*.cpp' | grep -v '^apps/algos/' |
          grep -vE '^[^:]+:[0-9]+:\s*//' | grep -v 'add_subcommand("sac"'); then
  echo "registry names: an algorithm named outside apps/algos/:"; echo "$hits"; status=1
fi
if hits=$(grep -rnE 'algo\s*[!=]=\s*"' apps --include='*.h' --include='*.cpp' | grep -v '^apps/algos/'); then
  echo "registry names: code branching on an algorithm's name:"; echo "$hits"; status=1
fi
exit $status
