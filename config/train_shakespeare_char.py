# The stacked baseline: nanoGPT's 6-layer character-level Shakespeare model (n_iter=1, dt=1 is plain stacking).
# GPU: python train.py config/train_shakespeare_char.py
# CPU: add --device=cpu --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4
#      --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0
out_dir = 'out-shakespeare-char'
eval_interval = 250  # small model: it overfits, so evaluate often
eval_iters = 200
log_interval = 10
always_save_checkpoint = False  # keep the best validation checkpoint only

wandb_log = False
wandb_project = 'shakespeare-char'
wandb_run_name = 'stack-6'

dataset = 'shakespeare_char'
gradient_accumulation_steps = 1
batch_size = 64
block_size = 256  # characters of context

n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2

learning_rate = 1e-3  # small networks can take a larger rate
max_iters = 5000
lr_decay_iters = 5000
min_lr = 1e-4
beta2 = 0.99  # a little larger: few tokens per iteration
warmup_iters = 100
