"""tunesql: turn a company's own database into its own private text-to-SQL model.

The stages live in sub-packages named after them: ``db`` (connect, describe, run SQL safely),
``sql`` (sqlglot utilities), ``data`` (records, corpora, export formats), ``eval`` (execution accuracy).
"""

__version__ = "0.1.0"
