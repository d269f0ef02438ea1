"""Reading, normalising, de-duplicating and splitting training records (the prepare stage's library)."""
