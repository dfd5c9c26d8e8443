"""Training data from a private database: LLM synthesis, back-translation, query-log mining, teacher distillation.

Every path ends in the same place: ``Pair`` records, each accepted or rejected with a reason, exported through
the dataset layer (``tunesql.data``) so the trainer reads them like any other corpus.
"""
