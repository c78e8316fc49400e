"""Question sets drawn from an ingested index (`ragq questions generate`) and their check against an expert set
(`ragq questions check`)."""
