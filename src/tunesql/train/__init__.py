"""Training: LoRA/QLoRA/full SFT and GRPO with execution rewards, on TRL + PEFT + accelerate."""
