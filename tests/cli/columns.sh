# shellcheck shell=bash
# Sourced by the CLI tests: check_columns FILE HEADER_ERE LABEL checks the terminal table whose
# header line matches HEADER_ERE (its rows: the lines after it that start with two spaces, up to
# a "  (" note or a line that does not) for columns that run together or drift. Cells are what
# two or more spaces separate (a cell may hold single spaces: "distribution helps"). Every row
# must have as many cells as the header, and each cell must start where its header starts
# (left-aligned text) or end where its header ends (right-aligned numbers). A glued
# "Main->Render*same-host" is one cell too few; a label wider than its column shifts the rest.
check_columns() {
  local file=$1 header=$2 label=$3 report
  report=$(awk -v header="$header" '
    function cells(line, S, E,   n, pos, rest) {
      n = 0; pos = 0; rest = line
      while (match(rest, /[^ ]+( [^ ]+)*/)) {
        n++; S[n] = pos + RSTART; E[n] = pos + RSTART + RLENGTH - 1
        pos += RSTART + RLENGTH - 1; rest = substr(rest, RSTART + RLENGTH)
      }
      return n
    }
    !found && $0 ~ header { found = 1; hn = cells($0, HS, HE); next }
    found == 1 {
      if ($0 !~ /^  / || $0 ~ /^ *$/ || $0 ~ /^ *\(/) { found = 2; next }
      rows++
      n = cells($0, S, E)
      if (n != hn) { printf "row has %d cells, header %d: %s\n", n, hn, $0; bad++; next }
      for (c = 1; c <= n; c++)
        if (S[c] != HS[c] && E[c] != HE[c]) {
          printf "cell %d neither starts (col %d) nor ends (col %d) with its header: %s\n", c, S[c], HE[c], $0
          bad++
          break
        }
    }
    END {
      if (!found) { print "no header line matching /" header "/"; exit 1 }
      if (!rows) { print "no rows under the header"; exit 1 }
      if (bad) exit 1
      printf "%d rows of %d columns aligned\n", rows, hn
    }' "$file") || { echo "FAIL: $label: table /$header/ misaligned:"; echo "$report"; cat "$file"; exit 1; }
  echo "ok   $label: $report"
}
