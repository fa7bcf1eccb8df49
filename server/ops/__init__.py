"""What operators see and hold: metrics, request logs, middleware, the API description."""
