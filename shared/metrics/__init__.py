"""Every metric, defined once: answer metrics (cosine, token F1, ROUGE-L, numbers, abstention, groundedness),
evidence metrics (where retrieval found the evidence), and the statistics over them (intervals, percentiles)."""
