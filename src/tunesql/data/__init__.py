"""Records, corpora and export formats: every dataset becomes a list of ``Example``.

``example`` (the record and its JSONL form), ``spider`` / ``bird`` / ``sql_create_context`` (loaders),
``prompts`` (instruction/input/output for training and inference), ``formats`` (Alpaca, ShareGPT, chat
messages, LLaMA-Factory's dataset_info.json).
"""

from tunesql.data.example import Example, read_examples, write_examples
from tunesql.data.spider import load_spider, load_spider_schemas, resolve_spider_dir, spider_db_path

__all__ = [
    "Example",
    "load_spider",
    "load_spider_schemas",
    "read_examples",
    "resolve_spider_dir",
    "spider_db_path",
    "write_examples",
]
