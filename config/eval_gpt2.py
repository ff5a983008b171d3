# Evaluate the pretrained gpt2 weights on OpenWebText (loss on the fixed eval batches):
#   python train.py config/eval_gpt2.py
batch_size = 8
eval_iters = 500  # more batches for a tighter estimate
eval_only = True
wandb_log = False
init_from = 'gpt2'
