"""Device profiles: the schema and the loader (the YAML files live in the top-level devices/)."""
