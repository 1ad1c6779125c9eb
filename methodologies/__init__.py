"""Built-in methodology files (YAML). This folder is data; the __init__ lets it ship as a package."""
