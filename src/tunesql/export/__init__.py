"""Export a fine-tuned model for serving: merge the adapter, write a GGUF, write an Ollama Modelfile.

    tunesql export merge runs/sft/adapter --out runs/merged              # adapter + base → one HF folder
    tunesql export gguf runs/merged --out runs/model-q8_0.gguf --type q8_0
    tunesql export ollama runs/model-q8_0.gguf --out runs/ollama --name my-sql-model

Each step is a plain function (:func:`merge_adapter`, :func:`export_gguf`, :func:`write_modelfile`); torch,
transformers, peft and gguf load only inside them, so importing this package is cheap.
"""

from __future__ import annotations

from tunesql.export.gguf import GGUF_TYPES, GGUFResult, check_tokenizer, export_gguf
from tunesql.export.merge import MergeResult, merge_adapter
from tunesql.export.ollama import ModelfileResult, template_family, write_modelfile

__all__ = [
    "GGUF_TYPES",
    "GGUFResult",
    "MergeResult",
    "ModelfileResult",
    "check_tokenizer",
    "export_gguf",
    "merge_adapter",
    "template_family",
    "write_modelfile",
]
