"""Limits on what one client can make the service do to others (STK pushes to a phone)."""
