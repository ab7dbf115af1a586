"""alft: answer-level fine-tuning (Distributional Alignment Game, Coherence-GRPO)."""
