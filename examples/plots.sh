#!/bin/sh
# plots.sh: draw the pictures in examples/img/ from what exprc prints.
#   img/mlp-graph.png   `exprc graph --dot examples/mlp.expr`, by Graphviz
#   img/train-loss.png  the training loss per epoch of the softmax MLP on
#                       iris, from train's log, with SGD and with Adam, by
#                       gnuplot
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
echo "plots.sh: wrote examples/img/mlp-graph.png and examples/img/train-loss.png"
