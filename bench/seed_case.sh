#!/usr/bin/env bash
# The seed's case, predicted: Llama 3 8B Q8_0 with a 32k context on 1..8 Tesla P40s over PCIe 3.0
# (`plan --simulate`, the built-in catalog), beside the KoboldCPP figures the project started
# from (1-4 P40s: prompt 317.68 / 593.65 / 463.35 / 408.82 tok/s, generation 10.23 / 9.57 / 8.62 /
# 8.22 tok/s). KoboldCPP's benchmark fills the context: a 32668-token prompt, then 100 tokens.
# Prints the table and, with gnuplot (apt install gnuplot-nox), draws docs/figures/seed-case.png
# and .svg.
#
#   bench/seed_case.sh [--devices N (default 8)] [--out-dir DIR (default docs/figures)]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
devices=8
out="$here/docs/figures"
while [ $# -gt 0 ]; do
  case "$1" in
    --devices) devices="$2"; shift 2 ;;
    --out-dir) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "seed_case.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "seed_case.sh: needs jq (apt install jq)" >&2; exit 1; }
kobold_prompt=(317.68 593.65 463.35 408.82)
kobold_gen=(10.23 9.57 8.62 8.22)

json="$("$bin/pipeshard" plan --simulate --preset llama3-8b --type q8_0 --cluster "${devices}xP40 pcie3" --ctx 32768 \
  --prompt-tokens 32668 --gen-tokens 100 --json)"
mkdir -p "$out"
data="$(mktemp)"
trap 'rm -f "$data"' EXIT
printf '%-8s %14s %14s %8s %14s %14s %8s\n' "devices" "KoboldCPP pp" "pipeshard pp" "x1" "KoboldCPP tg" "pipeshard tg" "vs 1"
p1="$(jq '.by_devices[0].prefill_tokens_per_s' <<< "$json")"
g1="$(jq '.by_devices[0].decode_tokens_per_s' <<< "$json")"
for ((n = 1; n <= devices; n++)); do
  p="$(jq ".by_devices[$((n - 1))].prefill_tokens_per_s" <<< "$json")"
  g="$(jq ".by_devices[$((n - 1))].decode_tokens_per_s" <<< "$json")"
  kp="${kobold_prompt[$((n - 1))]:-}"; kg="${kobold_gen[$((n - 1))]:-}"
  printf '%-8s %14s %14.1f %7.2fx %14s %14.2f %+7.1f%%\n' "$n" "${kp:--}" "$p" "$(awk -v a="$p" -v b="$p1" 'BEGIN { print a / b }')" \
    "${kg:--}" "$g" "$(awk -v a="$g" -v b="$g1" 'BEGIN { print 100 * (a - b) / b }')"
  echo "$n ${kp:-NaN} $p ${kg:-NaN} $g" >> "$data"
done
jq -r '.explanation' <<< "$json"

if ! command -v gnuplot > /dev/null; then
  echo "seed_case.sh: no gnuplot (apt install gnuplot-nox): no figure drawn" >&2
  exit 0
fi
for fmt in png svg; do
  if [ "$fmt" = png ]; then term="pngcairo size 1000,420 font 'Sans,10'"; else term="svg size 1000,420 font 'Sans,10'"; fi
  gnuplot <<PLOT
set terminal $term
set output "$out/seed-case.$fmt"
set multiplot layout 1,2 title "Llama 3 8B Q8\\\\_0, 32k context, Tesla P40s on PCIe 3.0"
set grid
set key top left
set xlabel "GPUs"
set xrange [0.5:$devices.5]
set xtics 1
set ylabel "prompt tok/s"
set yrange [0:*]
plot "$data" using 1:2 with linespoints lw 2 pt 7 title "KoboldCPP, measured (seed report)", \
     "$data" using 1:3 with linespoints lw 2 pt 5 title "pipeshard, predicted (plan --simulate)"
set ylabel "generation tok/s"
set yrange [0:12]
set key bottom left
plot "$data" using 1:4 with linespoints lw 2 pt 7 title "KoboldCPP, measured (seed report)", \
     "$data" using 1:5 with linespoints lw 2 pt 5 title "pipeshard, predicted (plan --simulate)"
unset multiplot
PLOT
done
echo "figures: $out/seed-case.png, $out/seed-case.svg"
