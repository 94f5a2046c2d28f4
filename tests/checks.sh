# Counting checks for the shell tests. Source it after setting CHECKS (the name in each line);
# end with `report_checks`, whose "N passed, M failed" line scripts/test.sh adds up.
# shellcheck shell=bash
passed=0
failed=0
check() {  # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then echo "ok      $CHECKS: $1"; passed=$((passed + 1));
    else echo "FAILED  $CHECKS: $1 (expected $2, got $3)"; failed=$((failed + 1)); fi
}
report_checks() {
    echo "$CHECKS: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
