# Evaluate the pretrained gpt2-xl weights on OpenWebText: python train.py config/eval_gpt2-xl.py
import os
exec(open(os.path.join(os.path.dirname(__file__), 'eval_gpt2.py')).read())
init_from = 'gpt2-xl'
