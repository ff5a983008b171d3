# The paper's "skip05": six UNSHARED blocks with the contractive update h <- 0.5 h + 0.5 F(h).
# It separates the effect of the update rule (dt) from the effect of sharing weights (SCORE).
import os
exec(open(os.path.join(os.path.dirname(__file__), 'train_shakespeare_char.py')).read())

out_dir = 'out-skip05-shakespeare'
wandb_run_name = 'skip05-6'
dt = 0.5
