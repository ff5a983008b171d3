# The stacked GPT-2 124M baseline on OpenWebText, 8 GPUs (one node):
#   python data/openwebtext/prepare.py && torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py
# 12 batch x 1024 block x 40 accumulation steps (5 per GPU) = ~0.5M tokens per iteration, 300B tokens in all.
wandb_log = False
wandb_project = 'owt'
wandb_run_name = 'gpt2-124M'

dataset = 'openwebtext'
out_dir = 'out-gpt2'
batch_size = 12
block_size = 1024
gradient_accumulation_steps = 5 * 8

n_layer = 12
n_head = 12
n_embd = 768

max_iters = 600000
lr_decay_iters = 600000
eval_interval = 1000
eval_iters = 200
log_interval = 10
weight_decay = 1e-1
compile = True
