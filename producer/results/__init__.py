"""Results for people and programs: per-run summaries, paired comparisons, the Pareto view, exports, the report."""
