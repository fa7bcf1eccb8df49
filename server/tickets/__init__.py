"""Tickets: signed codes, their QR images, and the gate's verify and check-in."""
