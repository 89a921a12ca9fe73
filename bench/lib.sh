# shellcheck shell=bash
# Shared helpers of the benchmark scripts (sourced).

# median: the median of the numbers on stdin, one a line (mean of the middle
# two for an even count); prints nothing for no input.
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) exit
              if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.3f\n", m }'
}
# range DECIMALS: "min-max" of the numbers on stdin.
range() {
    sort -g | awk -v d="$1" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.*f-%.*f\n", d, lo, d, hi }'
}
# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }'; }
# fmt V DECIMALS: a number for a summary line.
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f\n", d, v }'; }
