"""mlsys."""
