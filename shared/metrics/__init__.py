"""Every metric, defined once: answer metrics (cosine, token F1, ROUGE-L, numbers, abstention, groundedness),
the expert answer's likelihood, evidence metrics (where retrieval found the evidence), drift, and the statistics
over them (intervals, percentiles)."""
