"""Models: builders for teachers and students, safe loading, MAC and parameter counting."""
