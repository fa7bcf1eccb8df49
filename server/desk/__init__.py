"""The organiser's desk: live figures, an order's whole story, the payments held for review
and what a person does about them, tickets sent again, and CSV exports (issue 21).

The command line and the desk's HTTP routes call the same functions here."""
