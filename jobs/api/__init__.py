"""The REST API under /api/v1/: thin DRF views over jobs.services, documented by OpenAPI."""
