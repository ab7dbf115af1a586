#!/bin/bash
#SBATCH --job-name=alft-grpo
#SBATCH --nodes=3                    # N training nodes + 1 vLLM generation node (the last one)
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%j.out
# Multi-node GRPO with a vLLM server (README "Scaling out"): the first N nodes train through accelerate
# (one process per GPU, layout conf/accelerate/$LAYOUT.yaml), the last node serves generations with
# `trl vllm-serve`; TRL pushes the new weights to it after every optimisation step.
#   sbatch scripts/slurm_train_vllm.sh experiment=gsm8k_coherence               # 2 training nodes
#   sbatch --nodes=5 scripts/slurm_train_vllm.sh experiment=gsm8k_coherence      # 4 training nodes
#   LAYOUT=zero3 MODEL=Qwen/Qwen2.5-7B-Instruct VLLM_TP=2 sbatch scripts/slurm_train_vllm.sh experiment=...
# Arguments go to `alft train`. Run from the repository on a shared filesystem; every node needs the
# virtual environment ($VENV) with alft[vllm] (alft[deepspeed] for zero2/zero3) and the model (a hub id
# in a shared HF_HOME cache, or a directory on shared disk). Outputs: outputs/train/slurm-<job id>/.
set -euo pipefail

VENV=${VENV:-$PWD/.venv}
MODEL=${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}
LAYOUT=${LAYOUT:-zero2}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
VLLM_TP=${VLLM_TP:-1}                # tensor parallel size of the server; data parallel over the rest
VLLM_PORT=${VLLM_PORT:-8000}
MAIN_PORT=${MAIN_PORT:-29500}
export ALFT_RUN_DIR=${ALFT_RUN_DIR:-$PWD/outputs/train/slurm-$SLURM_JOB_ID}   # one directory, every rank

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
n_train=$(( ${#nodes[@]} - 1 ))
(( n_train >= 1 )) || { echo "slurm_train_vllm: need at least 2 nodes (training + vLLM)" >&2; exit 2; }
vllm_node=${nodes[-1]}
head_node=${nodes[0]}
train_nodes=$(IFS=,; echo "${nodes[*]:0:n_train}")

# 1. Generation server on the last node, all of its GPUs.
srun --nodes=1 --ntasks=1 --nodelist="$vllm_node" \
  "$VENV/bin/trl" vllm-serve --model "$MODEL" --tensor_parallel_size "$VLLM_TP" \
  --data_parallel_size $(( GPUS_PER_NODE / VLLM_TP )) --host 0.0.0.0 --port "$VLLM_PORT" &
until curl -sf "http://$vllm_node:$VLLM_PORT/health" >/dev/null; do sleep 10; done
echo "vLLM server up on $vllm_node:$VLLM_PORT; training on $train_nodes -> $ALFT_RUN_DIR"

# 2. Training: one accelerate launcher per node (machine rank = task rank), GPUS_PER_NODE processes each.
export VENV MODEL LAYOUT GPUS_PER_NODE VLLM_PORT MAIN_PORT n_train head_node vllm_node
srun --nodes="$n_train" --ntasks="$n_train" --nodelist="$train_nodes" bash -c '
  "$VENV/bin/accelerate" launch --config_file "conf/accelerate/$LAYOUT.yaml" \
    --num_machines "$n_train" --machine_rank "$SLURM_PROCID" --num_processes $(( n_train * GPUS_PER_NODE )) \
    --main_process_ip "$head_node" --main_process_port "$MAIN_PORT" \
    "$VENV/bin/alft" train "model=$MODEL" trainer.use_vllm=true trainer.vllm_mode=server \
    "+trainer.vllm_server_host=$vllm_node" "+trainer.vllm_server_port=$VLLM_PORT" "$@"' alft "$@"

kill %1 2>/dev/null || true   # stop the server once training is done
