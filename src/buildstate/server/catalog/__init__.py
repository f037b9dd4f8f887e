"""Reference data (platforms, OS versions, image types, projects) behind one CRUD mechanism."""
