#!/usr/bin/env bash
# Scaling against the stage count, predicted beside emulated and measured: draws
# docs/figures/scaling.png and .svg with gnuplot (apt install gnuplot-nox) from the tables the
# benchmark scripts print:
#   left:  Llama 3 8B shape, Q8_0, on P40s: plan --simulate for 1..16 stages and the EMULATED
#          sim:P40 clusters of bench/emulated_bench.sh (prefill and single-stream decode);
#   right: the 0.5B shape, Q8_0, on one-thread CPU workers of this host: plan --simulate with the
#          measured profile and the measured clusters of bench/predict_bench.sh.
#
#   bench/scaling_plot.sh EMULATED_TABLE PREDICT_TABLE [--profile FILE] [--model-8b M] [--out-dir DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
emulated="$1"; predicted="$2"; shift 2
profile="$here/run/bench/host-profile.json"
model8b="$here/run/bench-8b-q8_0.gguf"
out="$here/docs/figures"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --model-8b) model8b="$2"; shift 2 ;;
    --out-dir) out="$2"; shift 2 ;;
    *) echo "scaling_plot.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
for tool in jq gnuplot; do command -v "$tool" > /dev/null || { echo "scaling_plot.sh: needs $tool" >&2; exit 1; }; done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Predicted 8B on P40s over loopback hops, as the emulated clusters ran (1024-token prompt, ctx 1152).
sim() { "$bin/pipeshard" plan --simulate --model "$model8b" --cluster "16xP40 loopback" --ctx 1152 --json "$@"; }
# --ubatch auto: the coordinator's own cut for each stage count, as the clusters ran.
pp="$(sim --prompt-tokens 1024 --gen-tokens 1 --ubatch auto)"
pd="$(sim --prompt-tokens 5 --gen-tokens 64)"
for s in $(seq 16); do
  p="$(jq ".by_devices[$((s - 1))].prefill_tokens_per_s" <<< "$pp")"
  d="$(jq ".by_devices[$((s - 1))].decode_tokens_per_s" <<< "$pd")"
  echo "$s $p $d" >> "$tmp/p8b.dat"
done
awk '$2 == "prefill" { p[$1] = $(NF - 2) } $2 == "decode," { d[$1] = $(NF - 2) }
     END { for (s in p) print s, p[s], d[s] }' "$emulated" | sort -n > "$tmp/e8b.dat"
awk '$1 == "q8_0" && $3 == "prefill" { p[$2] = $(NF - 2); pp[$2] = $(NF - 1) }
     $1 == "q8_0" && $3 == "decode," { d[$2] = $(NF - 2); pd[$2] = $(NF - 1) }
     END { for (s in p) print s, p[s], pp[s], d[s], pd[s] }' "$predicted" | sort -n > "$tmp/cpu.dat"
[ -s "$tmp/e8b.dat" ] && [ -s "$tmp/cpu.dat" ] || { echo "scaling_plot.sh: no rows read from the tables" >&2; exit 1; }

mkdir -p "$out"
for fmt in png svg; do
  if [ "$fmt" = png ]; then term="pngcairo size 1100,460 font 'Sans,10'"; else term="svg size 1100,460 font 'Sans,10'"; fi
  gnuplot <<PLOT
set terminal $term
set output "$out/scaling.$fmt"
set multiplot layout 1,2
set grid
set xlabel "stages"
set key top left
set title "Llama 3 8B shape Q8\\\\_0 on P40s (1024-token prompt)"
set ylabel "prefill tok/s"
set y2label "decode tok/s"
set ytics nomirror
set y2tics
set xrange [0.5:16.5]
set yrange [0:*]
set y2range [0:20]
plot "$tmp/p8b.dat" using 1:2 with linespoints lw 2 pt 5 title "prefill, predicted", \
     "$tmp/e8b.dat" using 1:2 with points pt 7 ps 1.5 title "prefill, EMULATED sim:P40", \
     "$tmp/p8b.dat" using 1:3 axes x1y2 with linespoints lw 2 pt 4 dt 2 title "decode, predicted", \
     "$tmp/e8b.dat" using 1:3 axes x1y2 with points pt 6 ps 1.5 title "decode, EMULATED sim:P40"
set title "0.5B shape Q8\\\\_0, one-thread CPU workers of the dev VM"
set xrange [0.5:2.5]
set xtics 1
set key bottom right
set y2range [0:*]
plot "$tmp/cpu.dat" using 1:3 with linespoints lw 2 pt 5 title "prefill, predicted", \
     "$tmp/cpu.dat" using 1:2 with points pt 7 ps 1.5 title "prefill, measured", \
     "$tmp/cpu.dat" using 1:5 axes x1y2 with linespoints lw 2 pt 4 dt 2 title "decode, predicted", \
     "$tmp/cpu.dat" using 1:4 axes x1y2 with points pt 6 ps 1.5 title "decode, measured"
unset multiplot
PLOT
done
echo "figures: $out/scaling.png, $out/scaling.svg"
