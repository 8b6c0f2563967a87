"""One router per resource, combined in :func:`services.api.create_app`."""
