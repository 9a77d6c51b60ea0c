#!/usr/bin/env bash
# The main job: set everything up, run a real experiment and a small sweep on the embedded
# MLflow store (./mlflow.db), print the comparison table, and say where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bin="${NNEXP_VENV:-.venv}/bin"

echo "== 1/3  The tutorial's network (4 -> 2 ReLU -> 3 sigmoid), one tracked run"
"$bin/nnexp" +experiment=tutorial

echo
echo "== 2/3  A sweep: XOR with three activations (one from the nnexp-extras plugin) x two seeds,"
echo "         jobs in two parallel processes, grouped under one MLflow parent run"
"$bin/nnexp" -m +experiment=xor model.activation=tanh,relu,mish seed=0,1 \
  hydra/launcher=joblib hydra.launcher.n_jobs=2

echo
echo "== 3/3  The sweep compared (pandas leaderboard; loss curves in compare.png)"
"$bin/nnexp" compare --sweep --csv compare.csv --png compare.png

cat <<EOF

Where to look:
  - the runs, metrics, per-layer gradients and artifacts, in the MLflow UI:
        $bin/mlflow ui --backend-store-uri sqlite:///$(pwd)/mlflow.db
    then open http://127.0.0.1:5000 (experiment "xor": the sweep is a parent run, expand it
    for the six child runs; "tutorial": one run with its gradient .npz files and plots)
  - the comparison: compare.csv and compare.png (and $bin/nnexp compare --help)
  - each run's record (every step, checkpoints; nnexp resume/sync use it): nnexp-records/
  - Hydra's outputs (composed configs, logs): outputs/ and multirun/
EOF
