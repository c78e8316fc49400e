"""Code common to the producer and the worker: settings, errors, corpus, RAG pipeline, storage."""
