"""E-mails through an outbox: written with the change that causes them, sent after commit."""
