"""The online prediction service: `create_app(settings)` builds the FastAPI app."""
