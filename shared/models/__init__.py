"""Everything about a model's identity: the typed spec (spec.py, the one validator), catalog files (catalog.py),
where its GGUF is (files.py), the spec digest and run key (identity.py), and where it runs (placement.py)."""
