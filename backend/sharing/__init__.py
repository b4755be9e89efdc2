"""Share now / share on alert: an owner's live video to the program's live desk, the share's state machine and
the WHIP/WHEP relay."""
