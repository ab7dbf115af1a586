#!/usr/bin/env bash
# Train on the GPUs of one machine through accelerate (README "Scaling out").
#   scripts/launch_multi_gpu.sh ddp experiment=gsm8k_coherence              # every visible GPU, DDP
#   NUM_GPUS=4 scripts/launch_multi_gpu.sh zero3 experiment=gsm8k_coherence model.lora.enabled=true
# LAYOUT is a file of conf/accelerate/ (single_gpu, ddp, zero2, zero3, fsdp2); the other arguments go to
# `alft train`. Checks the engine the layout needs before starting, and prints the run directory.
set -euo pipefail

usage="usage: $0 LAYOUT [alft train overrides ...]"
layout=${1:?$usage}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
config=$repo/conf/accelerate/$layout.yaml
if [[ ! -f $config ]]; then
  choices=$(cd "$repo/conf/accelerate" && ls -- *.yaml | sed 's/\.yaml$//' | tr '\n' ' ')
  echo "launch_multi_gpu: no layout '$layout' (choices: $choices)" >&2
  exit 2
fi
alft=$(command -v alft || true)
[[ -n $alft ]] || { echo "launch_multi_gpu: alft not on PATH (activate its virtual environment)" >&2; exit 2; }
python=$(dirname "$alft")/python
if [[ $layout == zero* ]] && ! "$python" -c "import deepspeed" 2>/dev/null; then
  echo "launch_multi_gpu: layout $layout needs DeepSpeed: pip install 'alft[deepspeed]'" >&2
  exit 2
fi
if [[ " $* " == *"use_vllm=true"* ]] && ! "$python" -c "import vllm" 2>/dev/null; then
  echo "launch_multi_gpu: trainer.use_vllm=true needs vLLM: pip install 'alft[vllm]'" >&2
  exit 2
fi
if [[ $layout == single_gpu ]]; then
  num_gpus=1
else
  num_gpus=${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
fi
(( num_gpus >= 1 )) || { echo "launch_multi_gpu: no GPU found (set NUM_GPUS)" >&2; exit 2; }

# One run directory for every process, named once here (alft would otherwise agree on one through
# the launcher's rendezvous store).
export ALFT_RUN_DIR=${ALFT_RUN_DIR:-outputs/train/$(date +%Y-%m-%d/%H-%M-%S)}
echo "launch_multi_gpu: $layout on $num_gpus GPU(s), run directory $ALFT_RUN_DIR" >&2
exec "$(dirname "$alft")/accelerate" launch --config_file "$config" --num_processes "$num_gpus" \
  "$alft" train "$@"
