"""Inference: prompts, value retrieval, schema pruning, decoding strategies, and the ask-my-database pipeline.

Backends (``backend.py``) turn conversations into completions; everything here is backend-independent.
Submodules are imported on use, so ``import tunesql.infer`` stays light.
"""
