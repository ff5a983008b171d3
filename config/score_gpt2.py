# SCORE at GPT-2 124M width on OpenWebText, 8 GPUs:
#   torchrun --standalone --nproc_per_node=8 train.py config/score_gpt2.py
# ONE shared 768-wide block applied 12 times: the same FLOPs per token as the 12-layer baseline
# (config/train_gpt2.py), so the two compare at equal compute, with 7.1M block parameters instead of 85M
# (46M unique in all, most of them the token embedding). dt=0.5 keeps the repeated map contractive, the
# setting that trained best at Shakespeare scale (see README). Only the depth settings differ from the baseline.
import os
exec(open(os.path.join(os.path.dirname(__file__), 'train_gpt2.py')).read())

out_dir = 'out-score-gpt2'
wandb_run_name = 'score-1x12'
n_layer = 1
n_iter = 12
dt = 0.5
