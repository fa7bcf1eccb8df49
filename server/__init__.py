"""Payment-status service for M-PESA ticket sales through PayHero."""
