# SCORE on character-level Shakespeare: ONE shared block applied 6 times, h <- (1 - dt) h + dt F(h).
# Six applications match the 6-layer baseline's compute per token (config/train_shakespeare_char.py), so the
# comparison is at equal effective depth with 1/6 of the block parameters. dt=0.5 is the paper's contractive
# setting: each step moves half way to F(h), which keeps the repeated map stable without any normalisation trick.
import os
exec(open(os.path.join(os.path.dirname(__file__), 'train_shakespeare_char.py')).read())

out_dir = 'out-score-shakespeare'
wandb_run_name = 'score-1x6'
n_layer = 1
n_iter = 6
dt = 0.5
