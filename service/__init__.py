"""The Cloud Run FastAPI service: thin routes over the mlsys library."""
