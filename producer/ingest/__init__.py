"""Documents into an index: read (PDF, text, Markdown, HTML, a URL), chunk, embed, persist (`ragq ingest`)."""
