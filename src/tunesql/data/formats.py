"""Write prompts as training files: Alpaca, ShareGPT, chat messages, and LLaMA-Factory's dataset_info.json.

- ``alpaca``: a JSON list of ``{instruction, input, output, system}`` (LLaMA-Factory's default format).
- ``sharegpt``: a JSON list of ``{conversations: [{from: human, value}, {from: gpt, value}], system}``.
- ``messages``: JSONL, one ``{"messages": [{role, content}, …]}`` per line, as TRL's SFTTrainer takes it
  (LLaMA-Factory reads it too, as sharegpt with role/content tags).

Every record also carries the example's ``id`` and ``db_id`` (both trainers ignore columns they do not map),
so a line in a training file can be traced back to its source record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesql.data.example import Example, parse_jsonl
from tunesql.data.prompts import Prompt, build_prompt, render_schema_text, to_chat_messages
from tunesql.db.schema import Schema
from tunesql.errors import DataError

FORMATS = ("alpaca", "sharegpt", "messages")
SUFFIXES = {"alpaca": ".json", "sharegpt": ".json", "messages": ".jsonl"}
DATASET_INFO = "dataset_info.json"


def format_record(prompt: Prompt, fmt: str, *, example: Example | None = None) -> dict[str, Any]:
    """One prompt as one record of ``fmt``."""
    record: dict[str, Any]
    if fmt == "alpaca":
        record = {"instruction": prompt.instruction, "input": prompt.input, "output": prompt.output}
        if prompt.system:
            record["system"] = prompt.system
    elif fmt == "sharegpt":
        record = {"conversations": [{"from": "human", "value": prompt.user_text},
                                    {"from": "gpt", "value": prompt.output}]}
        if prompt.system:
            record["system"] = prompt.system
    elif fmt == "messages":
        record = {"messages": to_chat_messages(prompt)}
    else:
        raise DataError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if example is not None:
        record["id"] = example.id
        record["db_id"] = example.db_id
    return record


def build_prompts(
    examples: Sequence[Example],
    schemas: Mapping[str, Schema] | None = None,
    *,
    style: str = "schema",
    direction: str = "nl2sql",
    schema_format: str = "ddl",
    samples: bool = True,
    comments: bool = True,
    system: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Prompt]:
    """A prompt per example, each database's schema rendered once. For the ``schema`` style every db_id must
    be in ``schemas``; otherwise DataError names the record index and the field db_id."""
    rendered: dict[str, str] = {}
    prompts = []
    for index, ex in enumerate(examples):
        text = None
        if style == "schema":
            if ex.db_id not in rendered:
                schema = (schemas or {}).get(ex.db_id)
                if schema is None:
                    raise DataError(f"no schema for database {ex.db_id!r}", index=index, field="db_id")
                rendered[ex.db_id] = render_schema_text(schema, schema_format, samples=samples,
                                                        comments=comments)
            text = rendered[ex.db_id]
        prompts.append(build_prompt(ex, None, style, direction, schema_format, rendered_schema=text,
                                    system=system))
        if progress is not None:
            progress(1)
    return prompts


def write_records(records: Iterable[dict[str, Any]], out_path: str | Path, fmt: str) -> int:
    """Write records as a JSON list (one record per line inside it) or, for ``messages``, as JSONL.
    Written to a temporary file and renamed, so a failed export leaves no half file."""
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        if fmt == "messages":
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
        else:
            f.write("[")
            for record in records:
                f.write(("\n" if n == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
                n += 1
            f.write("\n]\n" if n else "]\n")
    tmp.replace(out_path)
    return n


def export(
    examples: Sequence[Example],
    out_path: str | Path,
    fmt: str = "alpaca",
    *,
    schemas: Mapping[str, Schema] | None = None,
    style: str = "schema",
    direction: str = "nl2sql",
    schema_format: str = "ddl",
    samples: bool = True,
    comments: bool = True,
    system: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Build each example's prompt and write them all to ``out_path`` in ``fmt``; returns the record count.

    ``schemas`` maps db_id to Schema (needed for the ``schema`` style). ``progress`` is called with 1 per
    record built.
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    prompts = build_prompts(examples, schemas, style=style, direction=direction, schema_format=schema_format,
                            samples=samples, comments=comments, system=system, progress=progress)
    return write_records((format_record(p, fmt, example=ex) for p, ex in zip(prompts, examples, strict=True)),
                         out_path, fmt)


def read_records(path: str | Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """Read an exported file back (JSON list, or JSONL for ``messages`` / a ``.jsonl`` suffix)."""
    path = Path(path)
    jsonl = fmt == "messages" if fmt is not None else path.suffix == ".jsonl"
    text = path.read_text(encoding="utf-8")
    if jsonl:
        return parse_jsonl(text, path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON at line {e.lineno}: {e.msg}", path=str(path)) from e
    if not isinstance(data, list):
        raise DataError("expected a JSON list", path=str(path))
    return data


def dataset_info_entry(file_name: str, fmt: str) -> dict[str, Any]:
    """LLaMA-Factory's description of one exported file (see its data/README.md)."""
    if fmt == "alpaca":
        return {"file_name": file_name, "formatting": "alpaca",
                "columns": {"prompt": "instruction", "query": "input", "response": "output",
                            "system": "system"}}
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system"},
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                         "assistant_tag": "gpt"}}
    if fmt == "messages":
        return {"file_name": file_name, "formatting": "sharegpt",
                "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}}
    raise DataError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def write_dataset_info(out_dir: str | Path, datasets: Mapping[str, tuple[str, str]], *,
                       merge: bool = True) -> Path:
    """Write ``out_dir/dataset_info.json`` describing ``{name: (file_name, fmt)}``; file names are relative
    to ``out_dir``. With ``merge``, entries already in the file are kept (same name: replaced), so exporting
    train and dev one after the other registers both."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DATASET_INFO
    info: dict[str, Any] = {}
    if merge and path.is_file():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"existing file is not valid JSON at line {e.lineno}: {e.msg}; move it away or "
                            "fix it", path=str(path)) from e
        if not isinstance(info, dict):
            raise DataError("existing file is not a JSON object; move it away or fix it", path=str(path))
    for name, (file_name, fmt) in datasets.items():
        info[name] = dataset_info_entry(file_name, fmt)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
