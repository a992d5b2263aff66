#!/usr/bin/env bash
# Lists the tests of a ctest log (run with --repeat until-pass:N) that failed at least once and
# then passed: flaky tests. They are reported, never hidden; the exit code stays 0 so that the
# caller's own status decides.
#   scripts/report-flaky.sh build/ctest.log
set -euo pipefail
log=${1:?usage: report-flaky.sh CTEST_LOG}
failed=$(grep -E 'Test +#[0-9]+: [^ ]+ .*(\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception|Subprocess aborted)' "$log" |
  sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/' | sort -u || true)
flaky=()
for t in $failed; do
  if grep -qE "Test +#[0-9]+: $t \.+ +Passed" "$log"; then flaky+=("$t"); fi
done
if [ ${#flaky[@]} -gt 0 ]; then
  echo "== FLAKY: ${#flaky[@]} test(s) failed and then passed when run again:"
  for t in "${flaky[@]}"; do echo "FLAKY: $t"; done
else
  echo "== no flaky tests (none needed a second run)"
fi
