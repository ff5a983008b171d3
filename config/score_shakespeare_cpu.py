# SCORE on character-level Shakespeare, sized for a laptop CPU (about 2 minutes on 2 cores): nanoGPT's CPU recipe
# (block 64, batch 12, n_embd 128, n_head 4, 2000 iterations, no dropout) with ONE shared block applied 4 times
# at dt=0.5. The stacked equivalent: --n_layer=4 --n_iter=1 --dt=1.0 --out_dir=out-stack-shakespeare-cpu
import os
exec(open(os.path.join(os.path.dirname(__file__), 'score_shakespeare.py')).read())

out_dir = 'out-score-shakespeare-cpu'
device = 'cpu'
eval_iters = 100
log_interval = 100
block_size = 64
batch_size = 12
n_embd = 128
n_head = 4
n_iter = 4
max_iters = 2000
lr_decay_iters = 2000
dropout = 0.0
