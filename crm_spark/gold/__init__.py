"""Gold: the tables analysts open first."""
