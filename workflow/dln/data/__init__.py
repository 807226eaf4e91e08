"""Data: the column dictionary, atomic files, run files, the aggregate and the run store."""
