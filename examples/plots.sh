#!/bin/sh
# plots.sh: draw the pictures in examples/img/ from what exprc prints.
#   img/mlp-graph.png   `exprc graph --dot examples/mlp.expr`, by Graphviz
#   img/train-loss.png  the training loss per epoch of the softmax MLP on
#                       iris, from train's log, with SGD and with Adam, by
#                       gnuplot
#   img/gp-co2.png      the Gaussian process of examples/gp.expr fitted to
#                       the Mauna Loa CO2 series by minimize (L-BFGS): its
#                       mean and two standard deviations, by gnuplot
# Usage: sh examples/plots.sh [BUILD_DIR]   (default: build)
# Needs the Debian packages graphviz and gnuplot-nox (installed if missing,
# as root or with sudo).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
for tool in dot:graphviz gnuplot:gnuplot-nox; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${tool#*:}" >/dev/null
  fi
done
[ -x "$build/exprc" ] || { echo "plots.sh: build $build first (sh tools/setup.sh $build)" >&2; exit 2; }
mkdir -p examples/img
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The graph: forward nodes blue, backward red, results as notes.
"$build/exprc" graph --dot examples/mlp.expr > "$tmp/mlp.dot"
dot -Tpng -Gdpi=110 "$tmp/mlp.dot" -o examples/img/mlp-graph.png

# The logs: into a file, train prints one plain line per epoch:
#   epoch   12/60  loss 0.3121  train acc  95.8%  test acc  96.7%  0.01s
for opt in sgd adam; do
  flag=""
  [ "$opt" = adam ] && flag=--adam
  "$build/examples/train" examples/softmax_mlp.expr examples/data/iris.csv \
    $flag > "$tmp/$opt.log"
  awk '$1 == "epoch" { split($2, e, "/"); print e[1], $4, $7, $10 }' \
    "$tmp/$opt.log" | tr -d '%' > "$tmp/$opt.dat"
done

gnuplot <<GNUPLOT
set terminal pngcairo size 900,560 font "Helvetica,11"
set output "examples/img/train-loss.png"
set title "softmax\\\\_mlp.expr on iris (120 training rows, batch 16): loss per epoch"
set xlabel "epoch"
set ylabel "training loss (cross-entropy + weight decay, log scale)"
set logscale y
set yrange [0.01:3]
set y2label "test accuracy (%)"
set y2range [50:101]
set y2tics
set ytics nomirror
set key bottom left box opaque
set grid
plot "$tmp/sgd.dat" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "loss, SGD (lr 0.1)", \
     "$tmp/adam.dat" using 1:2 with lines lw 2 lc rgb "#d62728" title "loss, Adam (lr 0.01)", \
     "$tmp/sgd.dat" using 1:4 axes x1y2 with lines dt 2 lc rgb "#1f77b4" title "test accuracy, SGD", \
     "$tmp/adam.dat" using 1:4 axes x1y2 with lines dt 2 lc rgb "#d62728" title "test accuracy, Adam"
GNUPLOT
# The Gaussian process: fit, then predict over 1955-2005 (exprc run --json
# prints each output as one list; sed and tr make columns of them).
"$build/examples/minimize" examples/gp.expr --method lbfgs --tol 1e-3 \
  --set data=@examples/data/co2_monthly.csv \
  --set when=@examples/data/co2_grid.csv --save "$tmp" > "$tmp/gp.log"
"$build/exprc" run examples/gp.expr --json --set h=@"$tmp/h.npy" \
  --set data=@examples/data/co2_monthly.csv \
  --set when=@examples/data/co2_grid.csv > "$tmp/gp.json"
for out in mean sd; do
  sed -n "s/.*\"$out\": \[\([^]]*\)\].*/\1/p" "$tmp/gp.json" | tr ',' '\n' \
    > "$tmp/$out.col"
done
tail -n +2 examples/data/co2_grid.csv | paste -d , - "$tmp/mean.col" "$tmp/sd.col" \
  > "$tmp/gp.dat"
nll=$(awk '/minimum f/ { print $4 }' "$tmp/gp.log")
gnuplot <<GNUPLOT
set terminal pngcairo size 900,560 font "Helvetica,11"
set output "examples/img/gp-co2.png"
set title "gp.expr: a Gaussian process fitted to Mauna Loa CO2 (521 months, L-BFGS, nll $nll)"
set xlabel "year"
set ylabel "CO2 (ppm)"
set key top left box opaque
set grid
set datafile separator ","
plot "$tmp/gp.dat" using 1:(\$2 - 2 * \$3):(\$2 + 2 * \$3) \
       with filledcurves lc rgb "#c6dbef" title "mean +/- 2 sd", \
     "examples/data/co2_monthly.csv" every ::1 using 1:2 with points pt 7 ps 0.35 \
       lc rgb "#333333" title "monthly means (data)", \
     "$tmp/gp.dat" using 1:2 with lines lw 1.5 \
       lc rgb "#d62728" title "posterior mean"
GNUPLOT
echo "plots.sh: wrote examples/img/mlp-graph.png, examples/img/train-loss.png and examples/img/gp-co2.png"
