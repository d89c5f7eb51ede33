"""The RAFT / assemble reward-ranked learning trainer and `fr generate`."""
