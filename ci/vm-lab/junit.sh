# JUnit helpers for the VM lab (sourced by run.sh): schema validation, the
# failing checks of a krc report, and the lab's own report of its steps.
# shellcheck shell=bash

# validate_junit FILE: valid against both schemas krc promises (Ant's strict
# one and Jenkins xUnit's), as tests/support's validate_junit does.
validate_junit() {
  local file=$1 xsd ok=0
  for xsd in ant-junit.xsd jenkins-junit-10.xsd; do
    if ! xmllint --noout --schema "$KRC_JUNIT_SCHEMAS/$xsd" "$file" 2>"$file.$xsd.err"; then
      log "$(basename "$file") is not valid against $xsd: $(head -n3 "$file.$xsd.err")"
      ok=1
    else
      rm -f "$file.$xsd.err"
    fi
  done
  return "$ok"
}

# failing_checks FILE: ids of the testcases with a <failure> or <error>,
# sorted, one a line.
failing_checks() {
  xmllint --xpath '//testcase[failure or error]/@name' "$1" 2>/dev/null \
    | grep -o 'name="[^"]*"' | sed 's/^name="//; s/"$//' | sort || true
}

# Escapes text for XML and drops the control characters XML 1.0 forbids
# (serial console logs are full of terminal escapes).
# warned_checks FILE: ids krc lists as warnings (in each testsuite's
# <system-out>, as "WARN ID: summary"), sorted, one a line.
warned_checks() {
  grep -oE '(^|>)WARN [^: ]+:' "$1" | sed -E 's/^>?WARN //; s/:$//' | sort -u || true
}

xml_escape() {
  tr -d '\000-\010\013\014\016-\037' | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

# The lab's own steps as a JUnit report. Cases are added with lab_case and
# written with lab_report; a step that could not run is <skipped> with the
# reason, never a pass.
LAB_CASES=()
LAB_COUNTS=(0 0 0) # failures skipped tests
lab_case() { # lab_case NAME passed|failed|skipped SECONDS MESSAGE [DETAIL_FILE]
  local name=$1 result=$2 secs=$3 msg detail=""
  msg=$(printf '%s' "$4" | xml_escape)
  [ -n "${5:-}" ] && [ -f "$5" ] && detail=$(xml_escape <"$5")
  local tc="    <testcase name=\"$name\" classname=\"krc.vm-lab\" time=\"$secs\">"
  case $result in
    passed) tc+="</testcase>" ;;
    failed) tc+="<failure message=\"$msg\" type=\"vm-lab.fail\">$detail</failure></testcase>"
            LAB_COUNTS[0]=$((LAB_COUNTS[0] + 1)) ;;
    skipped) tc+="<skipped message=\"$msg\">$msg</skipped></testcase>"
             LAB_COUNTS[1]=$((LAB_COUNTS[1] + 1)) ;;
  esac
  LAB_COUNTS[2]=$((LAB_COUNTS[2] + 1))
  LAB_CASES+=("$tc")
}

lab_report() { # lab_report FILE SECONDS PROPERTIES_FILE(name=value lines)
  local file=$1 secs=$2 props=$3
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<testsuites>'
    echo "  <testsuite name=\"${LAB_SUITE:-vm-lab}\" tests=\"${LAB_COUNTS[2]}\" failures=\"${LAB_COUNTS[0]}\" errors=\"0\" skipped=\"${LAB_COUNTS[1]}\" time=\"$secs\" timestamp=\"$(date -u +%Y-%m-%dT%H:%M:%S)\" hostname=\"$(hostname | xml_escape)\" package=\"krc.vm-lab\" id=\"0\">"
    echo '    <properties>'
    while IFS='=' read -r k v; do
      echo "      <property name=\"$k\" value=\"$(printf '%s' "$v" | xml_escape)\"/>"
    done <"$props"
    echo '    </properties>'
    printf '%s\n' "${LAB_CASES[@]}"
    echo '    <system-out/>'
    echo '    <system-err/>'
    echo '  </testsuite>'
    echo '</testsuites>'
  } >"$file"
}
