"""Source declarations (conf/sources.yml) and the canonical entity schemas they map onto."""
